"""Rotated IoU that calls mmcv's ``box_iou_rotated`` only where it can be non-zero.

``SparseRBboxOverlaps2D`` is a drop-in for mmrotate's ``RBboxOverlaps2D``: same call
(``bboxes1, bboxes2, mode='iou'|'iof', is_aligned=False``), same preprocessing (score
column dropped, w/h clamped to >= 1e-3, centres clamped to +-1e7) and the same matrix,
value for value: mmcv's CPU/GPU kernels compute every pair independently, so evaluating a
pair through ``aligned=True`` gives the same float as in the dense matrix. Pairs whose
circumscribed horizontal boxes are apart (by more than a small margin that covers the
kernel's float error) cannot intersect and are written as 0 without calling the kernel.
On anchors x a few GTs most pairs are far apart, which is where the saving comes from
(mmcv 2.1.0's CPU kernel costs ~1.5-2.5 us a pair).

The pre-filter is chunked over rows of ``bboxes1`` so its temporaries stay bounded; the
output itself is dense (m, n) or (m,) as the reference returns it.
"""
from typing import Tuple

import torch
from torch import Tensor

from mmdet_ext.registry import register

# Largest temporary (elements) of the chunked pre-filter.
_MAX_ELEMS = 1 << 22


def _box_tensor(boxes) -> Tensor:
    """Tensor of a BaseBoxes-like object (``.tensor``) or the tensor itself."""
    return boxes if isinstance(boxes, Tensor) else boxes.tensor


def _prepare(boxes: Tensor) -> Tensor:
    """mmrotate's ``rbbox_overlaps`` preprocessing: w/h >= 1e-3, |cx|, |cy| <= 1e7."""
    boxes = boxes.detach().clone()
    boxes[:, 2:4].clamp_(min=1e-3)
    boxes[:, :2].clamp_(min=-1e7, max=1e7)
    return boxes


def _half_extents(boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """Half width / height of the circumscribed horizontal boxes, plus a safety margin.

    Args:
        boxes: (N, 5) ``cx, cy, w, h, t``.

    Returns:
        (N,) half extents in x and in y, enlarged by 1e-3 + 1e-5 * (|cx| + |cy| + w + h)
        so rounding in the kernel's corner computation can never hide an intersection.
    """
    cos, sin = boxes[:, 4].cos().abs(), boxes[:, 4].sin().abs()
    w, h = boxes[:, 2], boxes[:, 3]
    margin = 1e-3 + 1e-5 * (boxes[:, 0].abs() + boxes[:, 1].abs() + w + h)
    return (w * cos + h * sin) / 2 + margin, (w * sin + h * cos) / 2 + margin


def _may_overlap(b1: Tensor, e1: Tuple[Tensor, Tensor], b2: Tensor, e2: Tuple[Tensor, Tensor]) -> Tensor:
    """True unless the enlarged circumscribed boxes are apart (NaN counts as True).

    Shapes broadcast: ``b1`` (..., 5) with extents (...,), the same for ``b2``.
    """
    apart = ((b1[..., 0] - b2[..., 0]).abs() > e1[0] + e2[0]) | \
        ((b1[..., 1] - b2[..., 1]).abs() > e1[1] + e2[1])
    return ~apart


@register('TASK_UTILS')
class SparseRBboxOverlaps2D:
    """Drop-in for mmrotate's ``RBboxOverlaps2D`` that skips pairs that cannot overlap.

    Example:
        ``iou_calculator=dict(type='SparseRBboxOverlaps2D')`` in an assigner config.
    """

    def __call__(self, bboxes1, bboxes2, mode: str = 'iou', is_aligned: bool = False) -> Tensor:
        """IoU / IoF between rotated boxes.

        Args:
            bboxes1: ``RotatedBoxes`` or Tensor (m, 5) ``cx, cy, w, h, t`` or (m, 6) with a
                score column.
            bboxes2: the same, (n, 5) / (n, 6), or empty.
            mode: ``'iou'`` or ``'iof'`` (intersection over the area of ``bboxes1``).
            is_aligned: pairwise rows (m == n) instead of all pairs.

        Returns:
            (m, n), or (m,) when aligned (mmrotate returns (0, 1) for empty aligned input;
            so does this).
        """
        assert bboxes1.size(-1) in [0, 5, 6]
        assert bboxes2.size(-1) in [0, 5, 6]
        if bboxes1.size(-1) == 6:
            bboxes1 = bboxes1[..., :5]
        if bboxes2.size(-1) == 6:
            bboxes2 = bboxes2[..., :5]
        bboxes1, bboxes2 = _box_tensor(bboxes1), _box_tensor(bboxes2)
        return sparse_rbbox_overlaps(bboxes1, bboxes2, mode, is_aligned)

    def __repr__(self) -> str:
        return self.__class__.__name__ + '()'


def sparse_rbbox_overlaps(bboxes1: Tensor, bboxes2: Tensor, mode: str = 'iou',
                          is_aligned: bool = False) -> Tensor:
    """Tensor version of :class:`SparseRBboxOverlaps2D` (mmrotate's ``rbbox_overlaps``).

    Args:
        bboxes1: (m, 5) or empty.
        bboxes2: (n, 5) or empty.
        mode: ``'iou'`` or ``'iof'``.
        is_aligned: if True, m == n and the result is (m,).

    Returns:
        (m, n) or (m,), zeros where the boxes cannot intersect.
    """
    from mmcv.ops import box_iou_rotated  # lazy: keeps the module importable without mmcv

    assert mode in ['iou', 'iof']
    assert bboxes1.size(-1) == 5 or bboxes1.size(0) == 0
    assert bboxes2.size(-1) == 5 or bboxes2.size(0) == 0
    rows, cols = bboxes1.size(0), bboxes2.size(0)
    if is_aligned:
        assert rows == cols
    if rows * cols == 0:
        return bboxes1.new_zeros((rows, 1)) if is_aligned else bboxes1.new_zeros((rows, cols))

    b1, b2 = _prepare(bboxes1), _prepare(bboxes2)
    e1, e2 = _half_extents(b1), _half_extents(b2)
    if is_aligned:
        out = b1.new_zeros(rows)
        idx = _may_overlap(b1, e1, b2, e2).nonzero().squeeze(1)
        if idx.numel():
            out[idx] = box_iou_rotated(b1[idx], b2[idx], mode, True)
        return out

    out = b1.new_zeros((rows, cols))
    chunk = max(1, _MAX_ELEMS // cols)
    for s in range(0, rows, chunk):
        sl = slice(s, s + chunk)
        mask = _may_overlap(b1[sl, None, :], (e1[0][sl, None], e1[1][sl, None]),
                            b2[None], (e2[0][None], e2[1][None]))
        i, j = mask.nonzero(as_tuple=True)
        if i.numel():
            i = i + s
            out[i, j] = box_iou_rotated(b1[i], b2[j], mode, True)
    return out
