"""Dataset classes of the embedded data: generation on first use and bad-input reporting."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmdet_ext.datasets import ShapesCocoDataset, ShapesDOTADataset
from mmdet_ext.datasets.checks import AnnotationError

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]


def _coco(tmp_path, anns, n_images=1):
    (tmp_path / 'img').mkdir(exist_ok=True)
    images = []
    for i in range(n_images):
        cv2.imwrite(str(tmp_path / 'img' / f'{i}.png'), np.full((32, 32, 3), 127, np.uint8))
        images.append(dict(id=i, file_name=f'{i}.png', width=32, height=32))
    cats = [dict(id=i + 1, name=n) for i, n in enumerate(('rectangle', 'ellipse', 'triangle'))]
    for i, a in enumerate(anns):
        a.setdefault('id', i + 1)
        a.setdefault('image_id', 0)
        a.setdefault('iscrowd', 0)
        a.setdefault('area', a['bbox'][2] * a['bbox'][3])
    with open(tmp_path / 'ann.json', 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)
    init_default_scope('mmdet')
    return dict(data_root=str(tmp_path), ann_file='ann.json', data_prefix=dict(img='img/'),
                pipeline=PIPELINE)


def test_out_of_range_label_names_file_image_and_index(tmp_path):
    kwargs = _coco(tmp_path, [dict(bbox=[1, 1, 10, 10], category_id=1),
                              dict(bbox=[2, 2, 10, 10], category_id=7)])
    with pytest.raises(AnnotationError) as err:
        ShapesCocoDataset(**kwargs)
    msg = str(err.value)
    assert 'ann.json' in msg and "'0.png'" in msg and 'annotation 1' in msg and 'label 7' in msg


def test_degenerate_box_is_skipped_with_warning(tmp_path):
    kwargs = _coco(tmp_path, [dict(bbox=[1, 1, 10, 10], category_id=1),
                              dict(bbox=[5, 5, 0.5, 10], category_id=2)])
    with pytest.warns(UserWarning, match=r"ann\.json.*annotation 1 .*degenerate"):
        ds = ShapesCocoDataset(**kwargs)
    assert len(ds.get_data_info(0)['instances']) == 1


def test_corrupt_image_names_the_file(tmp_path):
    kwargs = _coco(tmp_path, [dict(bbox=[1, 1, 10, 10], category_id=1)])
    (tmp_path / 'img' / '0.png').write_bytes(b'\x89PNG\r\n\x1a\n this is not an image')
    ds = ShapesCocoDataset(**kwargs)
    with pytest.raises(Exception, match=r'img/0\.png'):
        ds[0]


def test_missing_data_root_without_generation(tmp_path):
    init_default_scope('mmdet')
    with pytest.raises(FileNotFoundError, match=r'nowhere.*generate_data\.py'):
        ShapesCocoDataset(data_root=str(tmp_path / 'nowhere'), ann_file='a.json', pipeline=[])


def _dota(tmp_path, lines):
    (tmp_path / 'labelTxt').mkdir()
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labelTxt' / 'p1.txt').write_text('\n'.join(lines) + '\n')
    init_default_scope('mmrotate')
    return dict(data_root=str(tmp_path), ann_file='labelTxt/', data_prefix=dict(img_path='images/'),
                pipeline=[])


def test_dota_unknown_class_names_file_and_line(tmp_path):
    kwargs = _dota(tmp_path, ['1 1 20 1 20 10 1 10 rectangle 0', '1 1 20 1 20 10 1 10 plane 0'])
    with pytest.raises(AnnotationError, match=r'p1\.txt:2: label .plane'):
        ShapesDOTADataset(**kwargs)


def test_dota_degenerate_polygon_skipped_with_warning(tmp_path):
    kwargs = _dota(tmp_path, ['imagesource:GoogleEarth', 'gsd:0.1',
                              '1 1 20 1 20 10 1 10 arrow 0', '5 5 5 5 5 5 5 5 ellipse 0'])
    with pytest.warns(UserWarning, match=r'p1\.txt:4: skipping degenerate'):
        ds = ShapesDOTADataset(**kwargs)
    (inst,) = ds.get_data_info(0)['instances']
    assert inst['bbox_label'] == 2 and inst['ignore_flag'] == 0


def test_dota_malformed_line(tmp_path):
    kwargs = _dota(tmp_path, ['1 1 20 1 20 10 1 rectangle'])
    with pytest.raises(AnnotationError, match=r'p1\.txt:1: expected 8 coordinates'):
        ShapesDOTADataset(**kwargs)


@pytest.mark.parametrize('kind,root,cls', [('shapes', 'shapes', ShapesCocoDataset),
                                           ('shapes-rot', 'shapes_rot', ShapesDOTADataset)])
def test_generated_on_first_use(tmp_path, kind, root, cls):
    init_default_scope('mmrotate' if cls is ShapesDOTADataset else 'mmdet')
    gen = dict(kind=kind, seed=3, num_train=3, num_val=2) if kind == 'shapes-rot' else \
        dict(kind=kind, seed=3, num_train=3, num_val=2, num_test=1)
    ann = dict(ann_file='val/labelTxt/', data_prefix=dict(img_path='val/images/')) if kind == 'shapes-rot' \
        else dict(ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'))
    ds = cls(data_root=str(tmp_path / root), generate=gen, pipeline=[], **ann)
    assert len(ds) == 2 and osp.isdir(tmp_path / root)
    assert all(len(ds.get_data_info(i)['instances']) >= 1 for i in range(2))


def test_shapes_fog_config_splits():
    """The shapes-fog base config: labelled source, unlabelled-by-contract target, target test."""
    from mmengine.config import Config
    from mmengine.registry import DATASETS
    cfg = Config.fromfile('configs/_base_/datasets/shapes_fog.py')
    init_default_scope('mmdet')
    sizes = {name: len(DATASETS.build(dict(cfg[name], pipeline=[])))
             for name in ('source_train', 'source_test', 'target_train', 'target_test')}
    assert sizes == dict(source_train=600, source_test=100, target_train=600, target_test=100)
    assert cfg.val_evaluator.ann_file.endswith('target/annotations/instances_test.json')
