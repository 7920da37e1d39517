"""``shapes``: COCO-format detection data with horizontal boxes (``../shared/specs/shapes.md``).

Layout under ``out_dir``::

    annotations/instances_{train,val,test}.json   # COCO JSON, bbox = [x, y, w, h]
    train/000001.png ...  val/...  test/...        # file_name is relative to its split folder

Each 256x256 image (sizes scale with ``img_size / 256``) has a textured background,
5..30 distractor dots / blobs (radius <= 4 px, smaller than any object) and 1 to 8 objects
(rectangle / ellipse / triangle, category ids 1..3) of 12 to 96 px per side, aspect <= 2,
random colours kept away from the local background colour. Placements whose box IoU with
an earlier object exceeds 0.3, that would hide more than 30 % of an earlier object's
pixels, or that would lie with more than half its pixels on earlier objects, are
rejected, so every object stays clearly visible.
"""
import json
import math
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .draw import (Placer, box_iou, draw_distractors, ellipse_polygon, paint_polygon, rect_polygon,
                   textured_background, triangle_polygon, write_png)

CLASSES = ('rectangle', 'ellipse', 'triangle')
CATEGORIES = [dict(id=i + 1, name=n, supercategory='shape') for i, n in enumerate(CLASSES)]

#: Per-dataset tags mixed into the random seeds, so datasets with one seed still differ.
DATASET_TAG = 1


def render_shapes_image(rng: np.random.Generator, img_size: int = 256,
                        size_range: Tuple[float, float] = (12.0, 96.0), max_objects: int = 8,
                        max_aspect: float = 2.0, distractor_radius: float = 4.0
                        ) -> Tuple[np.ndarray, List[Tuple[int, Tuple[float, float, float, float]]]]:
    """Render one image; returns the float32 BGR canvas and ``[(class_index, xywh), ...]``.

    ``size_range`` and ``distractor_radius`` are in pixels of a 256x256 image and scale
    with ``img_size``.
    """
    h = w = int(img_size)
    scale = img_size / 256.0
    lo, hi = size_range[0] * scale, size_range[1] * scale
    canvas = textured_background(rng, h, w)
    draw_distractors(rng, canvas, int(rng.integers(5, 31)), distractor_radius * scale)
    placer = Placer(h, w, max_hidden=0.3, max_cover=0.5)
    objects = []
    boxes = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(len(CLASSES)))
        for _attempt in range(50):
            long_side = math.exp(rng.uniform(math.log(max(lo, 1.0)), math.log(hi)))
            short_side = max(long_side / rng.uniform(1.0, max_aspect), lo)
            bw, bh = (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)
            x0, y0 = rng.uniform(0.0, w - bw), rng.uniform(0.0, h - bh)
            box = (x0, y0, bw, bh)
            if box_iou(box, boxes) > 0.3:
                continue
            if cls == 0:
                poly = rect_polygon(x0, y0, bw, bh)
            elif cls == 1:
                poly = ellipse_polygon(x0 + bw / 2, y0 + bh / 2, bw / 2, bh / 2)
            else:
                poly = triangle_polygon(rng, x0, y0, bw, bh)
            if not paint_polygon(rng, canvas, poly, placer):
                continue
            boxes.append(box)
            objects.append((cls, box))
            break
    return canvas, objects


def write_coco_json(path: str, images: list, annotations: list, description: str,
                    params: dict) -> None:
    """COCO JSON with sorted keys and fixed formatting (same content => same bytes)."""
    data = dict(
        info=dict(description=description, version='1.0', generator='mmdet_ext.datasets.synthetic',
                  params=params),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=CATEGORIES,
    )
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f, sort_keys=True, separators=(',', ':'))
        f.write('\n')


def generate_coco_split(img_dir: str, ann_file: str, key: Sequence[int], num_images: int,
                        img_size: int, description: str, params: dict,
                        size_range: Tuple[float, float] = (12.0, 96.0),
                        distractor_radius: float = 4.0,
                        post: Optional[Callable[[np.random.Generator, np.ndarray], np.ndarray]] = None
                        ) -> None:
    """Render ``num_images`` images into ``img_dir`` and their COCO JSON into ``ann_file``.

    Image ``i`` uses ``np.random.default_rng([*key, i])``, so it does not depend on how many
    images are generated. ``post(rng, canvas)`` may degrade the finished canvas.
    """
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        rng = np.random.default_rng([*key, i])
        canvas, objects = render_shapes_image(rng, img_size, size_range,
                                              distractor_radius=distractor_radius)
        if post is not None:
            canvas = post(rng, canvas)
        img_id = i + 1
        file_name = f'{img_id:06d}.png'
        write_png(osp.join(img_dir, file_name), canvas)
        images.append(dict(id=img_id, file_name=file_name, width=int(img_size),
                           height=int(img_size)))
        for cls, (x, y, bw, bh) in objects:
            bbox = [round(float(v), 2) for v in (x, y, bw, bh)]
            annotations.append(dict(id=len(annotations) + 1, image_id=img_id,
                                    category_id=cls + 1, bbox=bbox,
                                    area=round(bbox[2] * bbox[3], 2), iscrowd=0))
    write_coco_json(ann_file, images, annotations, description, params)


def generate_shapes(out_dir, seed=0, num_train=600, num_val=100, num_test=100,
                    img_size=256) -> None:
    """Generate the ``shapes`` dataset (COCO JSON) under ``out_dir``; see the module doc.

    Same arguments => byte-identical files; a different ``seed`` => different data.
    """
    params = dict(seed=int(seed), num_train=int(num_train), num_val=int(num_val),
                  num_test=int(num_test), img_size=int(img_size))
    for split_index, (split, n) in enumerate((('train', num_train), ('val', num_val),
                                              ('test', num_test))):
        generate_coco_split(osp.join(out_dir, split),
                            osp.join(out_dir, 'annotations', f'instances_{split}.json'),
                            (int(seed), DATASET_TAG, split_index), int(n), int(img_size),
                            f'synthetic shapes, {split} split', params)
