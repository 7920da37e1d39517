"""Datasets for the embedded synthetic data (``../shared/specs/shapes.md``).

They are MMDetection's ``CocoDataset`` and MMRotate's ``DOTADataset`` with two additions:
the data is generated on first use when ``generate=dict(kind=..., seed=...)`` is given,
and bad annotations are reported with file and index (``checks.py``). Pointing a config
at real COCO / DOTA only means using ``CocoDataset`` / ``DOTADataset`` and a real root.
"""
import glob
import os.path as osp
from typing import List, Optional

from mmdet.datasets import CocoDataset

from mmdet_ext.registry import register
from .checks import AnnotationError, check_label, polygon_area, warn_degenerate

SHAPES_CLASSES = ('rectangle', 'ellipse', 'triangle')
SHAPES_ROT_CLASSES = ('rectangle', 'ellipse', 'arrow')
_PALETTE = [(220, 20, 60), (0, 130, 255), (255, 180, 0)]


class _GeneratedOnFirstUse:
    """Mixin: generate the embedded data under ``data_root`` before loading it.

    Args:
        generate: ``dict(kind=..., seed=0, ...)`` to generate the data under ``data_root``
            when absent (``ensure_dataset``); ``None`` to require it on disk.
    """

    def __init__(self, *args, generate: Optional[dict] = None, **kwargs) -> None:
        self._generate = generate
        super().__init__(*args, **kwargs)  # loads the data list, hence after _generate

    def _ensure_data(self) -> None:
        if self._generate:
            from .synthetic import ensure_dataset
            params = dict(self._generate)
            ensure_dataset(params.pop('kind'), self.data_root, **params)
        elif self.data_root and not osp.isdir(self.data_root):
            raise FileNotFoundError(
                f'{type(self).__name__}: data_root {self.data_root!r} does not exist. Generate it '
                'with `python tools/misc/generate_data.py all`, or pass generate=dict(kind=...) '
                'to create it on first use.')


@register('DATASETS')
class ShapesCocoDataset(_GeneratedOnFirstUse, CocoDataset):
    """``CocoDataset`` over the generated ``shapes`` / ``shapes-fog`` data.

    Args:
        generate: ``dict(kind='shapes' | 'shapes-fog', seed=0, ...)`` to generate the data
            under ``data_root`` when absent; ``None`` to require it on disk.
        **kwargs: ``CocoDataset`` arguments.
    """
    METAINFO = dict(classes=SHAPES_CLASSES, palette=_PALETTE)

    def load_data_list(self) -> List[dict]:
        self._ensure_data()
        return super().load_data_list()

    def parse_data_info(self, raw_data_info: dict):
        img = raw_data_info['raw_img_info']
        for i, ann in enumerate(raw_data_info['raw_ann_info']):
            where = f'{self.ann_file}: image {img["file_name"]!r}, annotation {i} (id {ann.get("id")})'
            check_label(ann['category_id'], self.cat_ids, where)
            _, _, w, h = ann['bbox']
            if w < 1 or h < 1 or ann.get('area', w * h) <= 0:
                warn_degenerate(where, f'bbox={ann["bbox"]}')
        return super().parse_data_info(raw_data_info)


def _dota_base():
    from mmrotate.datasets import DOTADataset
    return DOTADataset


@register('DATASETS')
class ShapesDOTADataset(_GeneratedOnFirstUse, _dota_base()):
    """MMRotate's ``DOTADataset`` over the generated ``shapes-rot`` data.

    Parsing is redone here (same fields as ``DOTADataset``) because the reference fails with
    a bare ``KeyError`` on an unknown class name and globs files in filesystem order; ours
    sorts them, so image order is the same on every machine.

    Args:
        generate: ``dict(kind='shapes-rot' | 'shapes-rot-dense', seed=0)`` or ``None``.
        **kwargs: ``DOTADataset`` arguments (``ann_file`` is the labelTxt folder).
    """
    METAINFO = dict(classes=SHAPES_ROT_CLASSES, palette=_PALETTE)

    def load_data_list(self) -> List[dict]:
        self._ensure_data()
        if self.ann_file == '':
            return super().load_data_list()
        txt_files = sorted(glob.glob(osp.join(self.ann_file, '*.txt')))
        if not txt_files:
            raise FileNotFoundError(f'no *.txt annotation files in {self.ann_file!r}')
        classes = self.metainfo['classes']
        data_list = []
        for txt in txt_files:
            img_id = osp.splitext(osp.basename(txt))[0]
            instances = []
            with open(txt) as f:
                for line_no, line in enumerate(f, 1):
                    fields = line.split()
                    if not fields or fields[0].startswith(('imagesource:', 'gsd:')):
                        continue  # blank lines and the headers of original DOTA files
                    where = f'{txt}:{line_no}'
                    if len(fields) < 9:
                        raise AnnotationError(f'{where}: expected 8 coordinates, a class name '
                                              f'and a difficulty, got {line.strip()!r}')
                    check_label(fields[8], classes, where)
                    poly = [float(v) for v in fields[:8]]
                    if polygon_area(poly) < 1:
                        warn_degenerate(where, f'polygon={poly}')
                        continue
                    difficulty = int(fields[9]) if len(fields) > 9 else 0
                    instances.append(dict(bbox=poly, bbox_label=classes.index(fields[8]),
                                          ignore_flag=int(difficulty > self.diff_thr)))
            file_name = f'{img_id}.{self.img_suffix}'
            data_list.append(dict(img_id=img_id, file_name=file_name, instances=instances,
                                  img_path=osp.join(self.data_prefix['img_path'], file_name)))
        return data_list
