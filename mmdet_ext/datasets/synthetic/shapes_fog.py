"""``shapes-fog``: a clean source domain and a hazy target domain (``../shared/specs/shapes.md``).

Layout under ``out_dir`` (COCO JSON, the three ``shapes`` classes)::

    source/annotations/instances_{train,test}.json   source/train/  source/test/
    target/annotations/instances_{train,test}.json   target/train/  target/test/

Source: clean ``shapes`` images (objects 12..96 px). Target: smaller objects (8..64 px,
distractor radius <= 3 px), then, in this order (intensities I in [0, 1]):

1. lower contrast: ``I = m + c (I - m)``, ``m`` the per-channel image mean, ``c`` in [0.6, 0.85];
2. haze: ``I = I t + 0.8 (1 - t)``, ``t = exp(-beta depth)``, ``depth = 1 - y / H`` plus
   smooth noise (std ~0.05), so depth grows towards the top; ``beta`` in [1.0, 2.0] per
   image (top rows: t in 0.14..0.37, strongly hazed; bottom quarter: t >= 0.6, readable);
3. a bluish colour cast (per-channel gains R ~0.93, G ~0.99, B ~1.05, each +-0.03);
4. Gaussian blur (sigma 0.7..1.5 px at 256x256);
5. sensor noise (Gaussian, std 0.01..0.03).

Target-train labels are written for diagnostics only: source-free adaptation must never
read them.
"""
import os.path as osp

import cv2
import numpy as np

from .draw import _grid, _smooth_noise
from .shapes import generate_coco_split

DATASET_TAG = 4
SOURCE_SIZE_RANGE = (12.0, 96.0)
TARGET_SIZE_RANGE = (8.0, 64.0)
AIRLIGHT = 0.8
BETA_RANGE = (1.0, 2.0)
#: Colour cast as BGR gains (bluish-grey fog).
CAST_BGR = np.array([1.05, 0.99, 0.93], np.float32)


def apply_fog(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Degrade a float32 BGR canvas in [0, 255] into the target domain (see module doc)."""
    h, w = canvas.shape[:2]
    img = canvas * np.float32(1.0 / 255.0)
    mean = img.mean(axis=(0, 1), keepdims=True)
    img = mean + (img - mean) * np.float32(rng.uniform(0.6, 0.85))
    yy, _ = _grid(h, w)
    depth = 1.0 - yy / np.float32(h)
    depth = np.clip(depth + _smooth_noise(rng, h, w, int(rng.integers(3, 7)), channels=1) *
                    np.float32(0.05), 0.0, None)
    t = np.exp(-np.float32(rng.uniform(*BETA_RANGE)) * depth)[..., None]
    img = img * t + np.float32(AIRLIGHT) * (1.0 - t)
    img *= CAST_BGR + rng.uniform(-0.03, 0.03, size=3).astype(np.float32)
    sigma = rng.uniform(0.7, 1.5) * w / 256.0
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(0.01, 0.03))
    return img * np.float32(255.0)


def generate_shapes_fog(out_dir, seed=0, num_source_train=600, num_source_test=100,
                        num_target_train=600, num_target_test=100, img_size=256) -> None:
    """Generate ``shapes-fog`` under ``out_dir``; see the module doc.

    Same arguments => byte-identical files; a different ``seed`` => different data.
    """
    params = dict(seed=int(seed), num_source_train=int(num_source_train),
                  num_source_test=int(num_source_test), num_target_train=int(num_target_train),
                  num_target_test=int(num_target_test), img_size=int(img_size))
    splits = [
        ('source', 'train', num_source_train), ('source', 'test', num_source_test),
        ('target', 'train', num_target_train), ('target', 'test', num_target_test),
    ]
    for split_index, (domain, split, n) in enumerate(splits):
        target = domain == 'target'
        generate_coco_split(
            osp.join(out_dir, domain, split),
            osp.join(out_dir, domain, 'annotations', f'instances_{split}.json'),
            (int(seed), DATASET_TAG, split_index), int(n), int(img_size),
            f'synthetic shapes-fog, {domain} domain, {split} split', params,
            size_range=TARGET_SIZE_RANGE if target else SOURCE_SIZE_RANGE,
            distractor_radius=3.0 if target else 4.0,
            post=apply_fog if target else None)
