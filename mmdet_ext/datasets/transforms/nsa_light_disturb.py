"""NSA's light image-level disturbance (specs/sfod.md section 3): a small random resize, shift
and (optionally) horizontal flip of the image, as one affine warp whose homography is recorded
(composed with the one already in ``results``), so the teacher's proposals and feature maps can
be mapped into this view and the student's maps warped back.

The output canvas is the resized size (a shift moves content out of the image and fills the
uncovered border with ``fill``). Works without annotations (target images); ``gt_bboxes`` when
present are projected and clipped. Randomness from NumPy's global generator (seeded per worker).
"""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import register


@register('TRANSFORMS')
class NSALightDisturb(BaseTransform):
    """Args:
        scale_range: uniform range of the resize factor (both axes).
        max_shift: the largest shift, a fraction of the resized width / height, per axis.
        flip_prob: probability of a horizontal flip.
        fill: value of uncovered pixels.
    """

    def __init__(self, scale_range: Tuple[float, float] = (0.9, 1.1), max_shift: float = 0.0625,
                 flip_prob: float = 0.5, fill: Sequence[float] = (114, 114, 114)):
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f'scale_range must be 0 < low <= high, got {scale_range}')
        if not 0 <= max_shift < 0.5 or not 0 <= flip_prob <= 1:
            raise ValueError(f'max_shift must be in [0, 0.5) and flip_prob in [0, 1], got '
                             f'{max_shift}, {flip_prob}')
        self.scale_range, self.max_shift, self.flip_prob = tuple(scale_range), max_shift, flip_prob
        self.fill = tuple(float(v) for v in fill)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        s = np.random.uniform(*self.scale_range)
        new_w, new_h = max(1, int(round(w * s))), max(1, int(round(h * s)))
        sx, sy = new_w / w, new_h / h
        tx = np.random.uniform(-self.max_shift, self.max_shift) * new_w
        ty = np.random.uniform(-self.max_shift, self.max_shift) * new_h
        matrix = np.array([[sx, 0., tx], [0., sy, ty], [0., 0., 1.]], dtype=np.float32)
        flip = np.random.rand() < self.flip_prob
        if flip:
            matrix = np.array([[-1., 0., new_w], [0., 1., 0.], [0., 0., 1.]], dtype=np.float32) @ matrix
        # cv2 puts integer coordinates at pixel centres, boxes (and the homography) at pixel
        # edges: conjugate by the half-pixel shift, or a flip lands one pixel off.
        pixel = matrix[:2].copy()
        pixel[:, 2] += pixel[:, :2] @ np.array([0.5, 0.5], dtype=np.float32) - 0.5
        results['img'] = cv2.warpAffine(img, pixel, (new_w, new_h), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=self.fill)
        results['img_shape'] = (new_h, new_w)
        previous = results.get('homography_matrix')
        results['homography_matrix'] = matrix if previous is None else matrix @ previous
        results['nsa_light'] = dict(scale=(sx, sy), shift=(tx, ty), flip=bool(flip))
        if results.get('gt_bboxes') is not None and len(results['gt_bboxes']):
            results['gt_bboxes'].project_(matrix)
            results['gt_bboxes'].clip_((new_h, new_w))
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(scale_range={self.scale_range}, max_shift={self.max_shift}, '
                f'flip_prob={self.flip_prob})')
