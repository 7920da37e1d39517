"""Annotation checks that name the file and the index of a bad entry.

MMDetection's ``CocoDataset`` drops degenerate boxes silently and fails on an unknown
``category_id`` with a bare ``KeyError``; MMRotate's ``DOTADataset`` likewise. Policy:
an out-of-range label is an error (the annotation file is wrong); a degenerate box
(width or height < 1 px, or a polygon of area < 1 px^2) is skipped with a warning.
"""
import warnings
from typing import Sequence


class AnnotationError(ValueError):
    """An annotation entry that cannot be trained on; the message names file and index."""


def check_label(value, valid: Sequence, where: str) -> None:
    if value not in valid:
        raise AnnotationError(f'{where}: label {value!r} is not one of the dataset\'s classes '
                              f'{list(valid)}')


def warn_degenerate(where: str, what: str) -> None:
    warnings.warn(f'{where}: skipping degenerate box {what}', stacklevel=3)


def polygon_area(xy: Sequence[float]) -> float:
    """Shoelace area of a polygon given as flat ``[x1, y1, x2, y2, ...]``."""
    xs, ys = xy[0::2], xy[1::2]
    n = len(xs)
    return 0.5 * abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n)))
