"""The strong view of source-free mean-teacher adaptation (specs/sfod.md section 0).

Photometric only, so the strong view keeps the weak view's geometry and the teacher's boxes
apply to it unchanged: colour jitter (0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale p 0.2, Gaussian
blur sigma in [0.1, 2] p 0.5, then three random-erasing passes (p 0.7 / 0.5 / 0.3;
scale (0.05, 0.2) / (0.02, 0.2) / (0.02, 0.2); ratio (0.3, 3.3) / (0.1, 6) / (0.05, 8)).
Randomness comes from NumPy's global generator, which MMEngine seeds per worker.
"""
import math
from typing import Sequence, Tuple

import cv2
import numpy as np
import torch
import torchvision.transforms.functional as TF
from mmcv.transforms import BaseTransform

from ...registry import register

DEFAULT_ERASING = (
    dict(prob=0.7, scale=(0.05, 0.2), ratio=(0.3, 3.3)),
    dict(prob=0.5, scale=(0.02, 0.2), ratio=(0.1, 6.0)),
    dict(prob=0.3, scale=(0.02, 0.2), ratio=(0.05, 8.0)),
)


def color_jitter(rgb: torch.Tensor, brightness: float, contrast: float, saturation: float, hue: float,
                 rng: np.random.RandomState) -> torch.Tensor:
    """torchvision's ColorJitter with NumPy randomness: factors drawn, applied in random order.

    Args:
        rgb: (3, H, W) float in [0, 1].
    """
    ops = [
        lambda x: TF.adjust_brightness(x, rng.uniform(1 - brightness, 1 + brightness)),
        lambda x: TF.adjust_contrast(x, rng.uniform(1 - contrast, 1 + contrast)),
        lambda x: TF.adjust_saturation(x, rng.uniform(1 - saturation, 1 + saturation)),
        lambda x: TF.adjust_hue(x, rng.uniform(-hue, hue)),
    ]
    for index in rng.permutation(4):
        rgb = ops[index](rgb)
    return rgb


def erase_box(height: int, width: int, scale: Tuple[float, float], ratio: Tuple[float, float],
              rng: np.random.RandomState, attempts: int = 10):
    """torchvision RandomErasing's box: area fraction in ``scale``, log-uniform aspect in ``ratio``.

    Returns:
        (top, left, h, w) or None when no box fits in ``attempts`` draws.
    """
    area = height * width
    for _ in range(attempts):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        h = int(round(math.sqrt(target * aspect)))
        w = int(round(math.sqrt(target / aspect)))
        if 0 < h < height and 0 < w < width:
            return rng.randint(0, height - h + 1), rng.randint(0, width - w + 1), h, w
    return None


@register('TRANSFORMS')
class StrongPhotometricAugment(BaseTransform):
    """Strong photometric view for teacher-student adaptation (geometry unchanged).

    Required keys: ``img`` (H, W, 3) uint8 BGR. Modified keys: ``img``.

    Args:
        jitter: (brightness, contrast, saturation, hue) of the colour jitter.
        jitter_prob, gray_prob, blur_prob: probabilities of the three photometric steps.
        blur_sigma: range of the Gaussian blur's sigma (pixels).
        erasing: one dict per random-erasing pass with ``prob``, ``scale``, ``ratio``.
    """

    def __init__(self, jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.1), jitter_prob: float = 0.8,
                 gray_prob: float = 0.2, blur_prob: float = 0.5,
                 blur_sigma: Tuple[float, float] = (0.1, 2.0), erasing: Sequence[dict] = DEFAULT_ERASING):
        self.jitter = tuple(jitter)
        if len(self.jitter) != 4:
            raise ValueError(f'jitter takes (brightness, contrast, saturation, hue), got {jitter}')
        self.jitter_prob, self.gray_prob, self.blur_prob = jitter_prob, gray_prob, blur_prob
        self.blur_sigma = tuple(blur_sigma)
        self.erasing = [dict(e) for e in erasing]
        for e in self.erasing:
            missing = {'prob', 'scale', 'ratio'} - set(e)
            if missing:
                raise KeyError(f'erasing pass {e} lacks {sorted(missing)}')

    def transform(self, results: dict) -> dict:
        rng = np.random  # the global generator: seeded per worker by MMEngine
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'StrongPhotometricAugment expects an (H, W, 3) uint8 image, got '
                             f'{img.dtype} {img.shape} ({results.get("img_path", "?")})')
        rgb = torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1).float() / 255.
        if rng.rand() < self.jitter_prob:
            rgb = color_jitter(rgb, *self.jitter, rng=rng)
        if rng.rand() < self.gray_prob:
            rgb = TF.rgb_to_grayscale(rgb, num_output_channels=3)
        out = (rgb.clamp(0, 1) * 255.).permute(1, 2, 0).numpy()[..., ::-1]
        if rng.rand() < self.blur_prob:
            out = cv2.GaussianBlur(np.ascontiguousarray(out), (0, 0), rng.uniform(*self.blur_sigma))
        out = np.ascontiguousarray(out).round().clip(0, 255).astype(np.uint8)
        height, width = out.shape[:2]
        for spec in self.erasing:
            if rng.rand() >= spec['prob']:
                continue
            box = erase_box(height, width, spec['scale'], spec['ratio'], rng)
            if box is not None:
                top, left, h, w = box
                # Random fill: uniform noise over the byte range (torchvision's 'random' draws
                # N(0, 1) on a [0, 1] tensor, which the references then wrap into bytes).
                out[top:top + h, left:left + w] = rng.randint(0, 256, size=(h, w, 3), dtype=np.uint8)
        results['img'] = out
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(jitter={self.jitter}, jitter_prob={self.jitter_prob}, '
                f'gray_prob={self.gray_prob}, blur_prob={self.blur_prob}, blur_sigma={self.blur_sigma}, '
                f'erasing={self.erasing})')
