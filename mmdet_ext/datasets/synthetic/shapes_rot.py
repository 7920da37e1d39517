"""``shapes-rot``: oriented objects in the DOTA v1 layout (``../shared/specs/shapes.md``).

Layout under ``out_dir`` (readable by MMRotate's ``DOTADataset``)::

    train/images/000001.png   train/labelTxt/000001.txt
    val/images/...            val/labelTxt/...

One label line per object: ``x1 y1 x2 y2 x3 y3 x4 y4 class_name difficulty``, the four
corners (clockwise in image coordinates, 1 decimal) of the object's tight oriented
rectangle, difficulty 0. Classes: ``rectangle``, ``ellipse``, ``arrow`` (an arrow polygon,
boxed by the oriented rectangle around it).

Normal mode (256x256 by default): 1 to 10 objects, long side 16..96 px (log-uniform,
scaled by ``img_size / 256``), aspect 1:1..1:4 (arrows 1.5..4), short side >= 6 px, any
angle in [0, 180), fully inside the image; objects overlap by at most 5 % of their pixels.

Dense mode (``dense=True``, for assignment stress tests): 1024x1024 images with 300 to
2000 objects each (scaled by ``(img_size / 1024)**2``) of long side 6..24 px (short side
>= 3 px). Because the signature's defaults suit the normal mode, in dense mode the
default values ``num_train=600``, ``num_val=100`` and ``img_size=256`` are read as "not
given" and become ``num_train=4``, ``num_val=2`` and ``img_size=1024``; pass any other
value to override them.
"""
import math
import os
import os.path as osp
from typing import List, Tuple

import numpy as np

from .draw import (Placer, arrow_polygon, draw_distractors, ellipse_polygon, obb_polygon,
                   paint_polygon, textured_background, write_png)

CLASSES = ('rectangle', 'ellipse', 'arrow')
DATASET_TAG = 2
DENSE_DATASET_TAG = 3
DENSE_DEFAULTS = dict(num_train=4, num_val=2, img_size=1024)


def resolve_rot_params(num_train=600, num_val=100, img_size=256, dense=False) -> dict:
    """Apply the dense-mode defaults (see the module doc)."""
    if dense:
        if num_train == 600:
            num_train = DENSE_DEFAULTS['num_train']
        if num_val == 100:
            num_val = DENSE_DEFAULTS['num_val']
        if img_size == 256:
            img_size = DENSE_DEFAULTS['img_size']
    return dict(num_train=int(num_train), num_val=int(num_val), img_size=int(img_size),
                dense=bool(dense))


def render_rot_image(rng: np.random.Generator, img_size: int = 256, dense: bool = False
                     ) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Render one image; returns the float32 BGR canvas and ``[(class_index, corners 4x2)]``."""
    h = w = int(img_size)
    canvas = textured_background(rng, h, w)
    if dense:
        area_scale = (img_size / 1024.0) ** 2
        lo, hi, min_short = 6.0, 24.0, 3.0
        target = max(1, int(round(rng.integers(300, 2001) * area_scale)))
        attempts = 4 * target
        draw_distractors(rng, canvas, int(rng.integers(50, 201) * area_scale) + 1, 2.0,
                         min_radius=0.7)
        placer = Placer(h, w, max_hidden=0.1, max_cover=0.1)
    else:
        scale = img_size / 256.0
        lo, hi, min_short = 16.0 * scale, 96.0 * scale, 6.0 * scale
        target = int(rng.integers(1, 11))
        attempts = 50 * target
        draw_distractors(rng, canvas, int(rng.integers(5, 31)), 3.0 * scale)
        placer = Placer(h, w, max_hidden=0.05, max_cover=0.05)
    objects = []
    cls = int(rng.integers(len(CLASSES)))
    for _ in range(attempts):
        if len(objects) >= target:
            break
        long_side = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        aspect = rng.uniform(1.5 if cls == 2 else 1.0, 4.0)
        short_side = max(long_side / aspect, min_short)
        theta = rng.uniform(0.0, math.pi)
        c, s = abs(math.cos(theta)), abs(math.sin(theta))
        ex = (long_side * c + short_side * s) / 2.0 + 0.5  # half extents + margin
        ey = (long_side * s + short_side * c) / 2.0 + 0.5
        if 2 * ex >= w or 2 * ey >= h:
            continue
        cx, cy = rng.uniform(ex, w - ex), rng.uniform(ey, h - ey)
        if cls == 0:
            poly = obb_polygon(cx, cy, long_side, short_side, theta)
        elif cls == 1:
            poly = ellipse_polygon(cx, cy, long_side / 2, short_side / 2, theta,
                                   n=24 if dense else 48)
        else:
            poly = arrow_polygon(rng, cx, cy, long_side, short_side, theta)
        if not paint_polygon(rng, canvas, poly, placer):
            continue
        objects.append((cls, obb_polygon(cx, cy, long_side, short_side, theta)))
        cls = int(rng.integers(len(CLASSES)))
    return canvas, objects


def format_dota_line(corners: np.ndarray, class_name: str, img_size: int) -> str:
    xy = np.clip(corners, 0.0, float(img_size)).reshape(-1)
    return ' '.join(f'{float(v):.1f}' for v in xy) + f' {class_name} 0'


def generate_shapes_rot(out_dir, seed=0, num_train=600, num_val=100, img_size=256,
                        dense=False) -> None:
    """Generate ``shapes-rot`` (or its dense variant) under ``out_dir``; see the module doc.

    Same arguments => byte-identical files; a different ``seed`` => different data.
    """
    p = resolve_rot_params(num_train, num_val, img_size, dense)
    tag = DENSE_DATASET_TAG if p['dense'] else DATASET_TAG
    for split_index, (split, n) in enumerate((('train', p['num_train']),
                                              ('val', p['num_val']))):
        img_dir = osp.join(out_dir, split, 'images')
        txt_dir = osp.join(out_dir, split, 'labelTxt')
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(txt_dir, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng([int(seed), tag, split_index, i])
            canvas, objects = render_rot_image(rng, p['img_size'], p['dense'])
            stem = f'{i + 1:06d}'
            write_png(osp.join(img_dir, stem + '.png'), canvas)
            lines = [format_dota_line(corners, CLASSES[cls], p['img_size'])
                     for cls, corners in objects]
            with open(osp.join(txt_dir, stem + '.txt'), 'w') as f:
                f.write(''.join(line + '\n' for line in lines))
