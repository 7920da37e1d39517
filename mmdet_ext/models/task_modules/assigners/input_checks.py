"""Input checks shared by the assigners: fail early with a message that names the problem.

Without them, wrong input fails deep inside (an index error in a scatter, an mmcv assert)
or, worse, gives a silently wrong assignment: a (G, 5) rotated tensor read as
``x1, y1, x2, y2`` plus a score column, NaN centres that are never "nearest" to anything.
"""
from typing import Sequence

import torch
from torch import Tensor


def box_tensor(boxes) -> Tensor:
    """Tensor of a BaseBoxes-like object (``.tensor``) or the tensor itself."""
    if isinstance(boxes, Tensor):
        return boxes
    t = getattr(boxes, 'tensor', None)
    if not isinstance(t, Tensor):
        raise TypeError(f'expected a Tensor or a boxes object with .tensor, got {type(boxes).__name__}')
    return t


def box_kind(boxes) -> str:
    """``'hbox'`` / ``'rbox'`` for a boxes object of that type, else ``''``."""
    name = type(boxes).__name__
    return {'HorizontalBoxes': 'hbox', 'RotatedBoxes': 'rbox'}.get(name, '')


def check_boxes(name: str, boxes, widths: Sequence[int], hint: str = '') -> Tensor:
    """The tensor of ``boxes`` after checking its shape and values.

    Args:
        name: what to call it in messages (e.g. ``'gt_instances.bboxes'``).
        boxes: Tensor or boxes object.
        widths: accepted sizes of the last dimension (4 horizontal, 5 rotated).
        hint: appended to the wrong-type message.

    Raises:
        TypeError: not 2-D, or a last dimension not in ``widths`` (wrong box type).
        ValueError: NaN or Inf coordinates (the rows are named).
    """
    t = box_tensor(boxes)
    kinds = {4: 'horizontal (N, 4) x1,y1,x2,y2', 5: 'rotated (N, 5) cx,cy,w,h,t'}
    if t.dim() != 2 or t.size(-1) not in widths:
        allowed = ' or '.join(kinds.get(w, f'(N, {w})') for w in widths)
        raise TypeError(f'{name}: expected {allowed} boxes, got a tensor of shape {tuple(t.shape)} '
                        f'({type(boxes).__name__}){hint}')
    if not t.is_floating_point():
        raise TypeError(f'{name}: expected floating-point boxes, got {t.dtype}')
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()
        shown = rows[:5].tolist()
        more = f' and {rows.numel() - 5} more' if rows.numel() > 5 else ''
        raise ValueError(f'{name}: NaN or Inf coordinates in rows {shown}{more} of {t.size(0)}')
    return t


def check_level_counts(num_level_priors, num_priors: int) -> list:
    """``num_level_priors`` as ints after checking they are >= 0 and add up to P.

    Raises:
        ValueError: a negative count, or a sum different from the number of priors.
    """
    try:
        counts = [int(n) for n in num_level_priors]
    except TypeError as err:
        raise ValueError(f'num_level_priors must be a sequence of ints, got {num_level_priors!r}') from err
    if any(n < 0 for n in counts):
        raise ValueError(f'num_level_priors has a negative count: {counts}')
    if sum(counts) != num_priors:
        raise ValueError(f'num_level_priors adds up to {sum(counts)} ({counts}) but there are {num_priors} '
                         'priors: the level counts must partition the priors')
    return counts


def check_labels(labels: Tensor, num_gts: int) -> None:
    """Raise ValueError unless ``labels`` is (G,) with one label per GT box."""
    if labels is None or labels.dim() != 1 or labels.numel() != num_gts:
        shape = None if labels is None else tuple(labels.shape)
        raise ValueError(f'gt_instances.labels must be ({num_gts},), one per box, got {shape}')
