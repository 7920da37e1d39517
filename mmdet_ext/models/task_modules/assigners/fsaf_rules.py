"""FSAF assignment rules on plain tensors, with cost bounded by the regions' size (not P x G).

Pure PyTorch, no mmcv / mmdet import; the IoF of prior / region pairs and the per-pair
losses come from the caller (see :class:`SparseFSAFAssigner`).

Notation: ``P`` priors (all levels), ``G`` ground-truth boxes, ``L`` levels, ``C`` classes,
``M`` (prior, gt) pairs of a region. Boxes are horizontal ``x1, y1, x2, y2``.

Regions (FSAF; mmdet's ``CenterRegionAssigner`` decides them the same way, float for float):

* effective ("core") region of GT g on a level: priors whose centre lies strictly inside g
  and whose IoF with g scaled by ``pos_scale`` (0.2) exceeds ``min_pos_iof``;
* ignoring ("shadow") region: IoF with g scaled by ``neg_scale`` (0.5 in the paper, 0.2 in
  mmdet's config) exceeds ``min_pos_iof``, and not core.

A region of g is found without a P x G matrix: the priors of a level lie on a grid
(``atss_rules.fit_level_grid``), and a prior can only pass the tests when its centre lies
in the region box grown by the level's largest prior half-size, which is an index window
of the grid. :func:`region_pairs` enumerates the windows' (prior, gt) pairs and evaluates
the exact tests only on them; a level that is not a grid falls back to chunks of GTs
against the level's priors (temporaries bounded by ``max_elems``).

Conflicts: a prior in the core of several GTs goes to the smallest GT (mmdet's priority:
rank of the area in a descending ``sort``); for the others the pair becomes a shadow
pair. Shadow pairs ignore one class (the GT's) of one prior; when a prior's positive label
equals a shadow's label it becomes negative (``foreground_dominate=False``) or the
shadow pair is dropped (``True``), as in mmdet.

Online feature selection: :func:`level_mean_losses` averages per-pair losses over each
(level, GT) group (scatter-add: no loop over GTs) and :func:`select_levels` takes the
level of the smallest mean (the first on ties, as ``Tensor.min(dim)``); a level where a
GT has no pair gets ``INF_LOSS`` (1e6, mmdet's value), so it is never chosen while another
level has pairs.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .atss_rules import DEFAULT_MAX_ELEMS, LevelGrid, fit_level_grid

# mmdet FSAFHead's loss of a level where an instance has no positive prior.
INF_LOSS = 1e6


def scale_boxes(boxes: Tensor, scale: float) -> Tensor:
    """Boxes scaled about their centres, with mmdet's float expression.

    Args:
        boxes: (N, 4) ``x1, y1, x2, y2``.
        scale: factor of the width and height.

    Returns:
        (N, 4) scaled boxes.
    """
    w_half = (boxes[:, 2] - boxes[:, 0]) * .5
    h_half = (boxes[:, 3] - boxes[:, 1]) * .5
    x_c = (boxes[:, 2] + boxes[:, 0]) * .5
    y_c = (boxes[:, 3] + boxes[:, 1]) * .5
    w_half = w_half * scale
    h_half = h_half * scale
    return torch.stack((x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half), dim=1)


def prior_centers(priors: Tensor) -> Tensor:
    """(P, 2) centres ``(p[2:4] + p[0:2]) / 2`` of (P, 4) priors (mmdet's expression)."""
    return (priors[:, 2:4] + priors[:, 0:2]) / 2


def box_areas(boxes: Tensor) -> Tensor:
    """(N,) ``(x2 - x1) * (y2 - y1)``."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def located_in(points: Tensor, boxes: Tensor) -> Tensor:
    """Points strictly inside boxes, row by row.

    Args:
        points: (M, 2).
        boxes: (M, 4) aligned with ``points``.

    Returns:
        (M,) bool.
    """
    return ((points[:, 0] > boxes[:, 0]) & (points[:, 0] < boxes[:, 2])
            & (points[:, 1] > boxes[:, 1]) & (points[:, 1] < boxes[:, 3]))


def gt_priority(gt_boxes: Tensor) -> Tensor:
    """Priority of every GT: smaller boxes higher (mmdet's ``get_gt_priorities``).

    Args:
        gt_boxes: (G, 4).

    Returns:
        (G,) long, a permutation of ``0..G-1``; the largest value wins a conflict.
    """
    _, order = box_areas(gt_boxes).sort(descending=True)
    return order.argsort()


@dataclass
class LevelInfo:
    """One level's block of priors: where it starts, its grid (or None), prior half-sizes."""
    start: int
    size: int
    grid: Optional[LevelGrid]
    half_w: float
    half_h: float


def level_infos(priors: Tensor, num_level_priors: Sequence[int]) -> List[LevelInfo]:
    """Describe every level of ``priors`` (P, 4), levels consecutive, in that order."""
    infos, start = [], 0
    centers = prior_centers(priors)
    for n in num_level_priors:
        n = int(n)
        block = priors[start:start + n]
        if n:
            half_w = float(((block[:, 2] - block[:, 0]) / 2).max())
            half_h = float(((block[:, 3] - block[:, 1]) / 2).max())
        else:
            half_w = half_h = 0.0
        infos.append(LevelInfo(start, n, fit_level_grid(centers[start:start + n], start), half_w, half_h))
        start += n
    return infos


def window_pairs(info: LevelInfo, centers: Tensor, lo: Tensor, hi: Tensor,
                 max_elems: int = DEFAULT_MAX_ELEMS) -> Tuple[Tensor, Tensor]:
    """(prior, box) pairs of one level whose prior centre may lie in ``[lo, hi]``.

    A superset of the exact set (the caller evaluates its exact test on the pairs): on a
    grid the index window is widened by 0.1 cell, which covers the grid's allowed
    deviation (``fit_level_grid`` accepts at most 0.05 cell); elsewhere the centres are
    compared with a 1e-3 px slack.

    Args:
        info: the level.
        centers: (P, 2) centres of all priors.
        lo: (N, 2) lower corner of each box's centre window.
        hi: (N, 2) upper corner.
        max_elems: bound on the temporaries of the non-grid path.

    Returns:
        prior_idx (M,) and box_idx (M,) long.
    """
    dev = centers.device
    n_box = lo.size(0)
    empty = torch.zeros(0, dtype=torch.long, device=dev)
    if info.size == 0 or n_box == 0:
        return empty, empty
    grid = info.grid
    if grid is None:
        level_ctrs = centers[info.start:info.start + info.size]
        chunk = max(1, max_elems // max(1, info.size))
        pis, bis = [], []
        for s in range(0, n_box, chunk):
            l, h = lo[s:s + chunk] - 1e-3, hi[s:s + chunk] + 1e-3
            inside = ((level_ctrs[:, None, 0] >= l[None, :, 0]) & (level_ctrs[:, None, 0] <= h[None, :, 0])
                      & (level_ctrs[:, None, 1] >= l[None, :, 1]) & (level_ctrs[:, None, 1] <= h[None, :, 1]))
            p, b = inside.nonzero(as_tuple=True)
            pis.append(p + info.start)
            bis.append(b + s)
        return torch.cat(pis), torch.cat(bis)

    def index_range(low, high, origin, step, size):
        # clamp in float64 before casting so far-away boxes cannot overflow
        u0 = ((low.double() - origin) / step - 0.1).clamp(-1, size).ceil().long()
        u1 = ((high.double() - origin) / step + 0.1).clamp(-1, size).floor().long()
        u0, u1 = u0.clamp(min=0), u1.clamp(max=size - 1)
        return u0, (u1 - u0 + 1).clamp(min=0)

    ix0, nx = index_range(lo[:, 0], hi[:, 0], grid.x0, grid.sx, grid.W)
    iy0, ny = index_range(lo[:, 1], hi[:, 1], grid.y0, grid.sy, grid.H)
    counts = nx * ny * grid.A
    total = int(counts.sum())
    if total == 0:
        return empty, empty
    box_idx = torch.repeat_interleave(torch.arange(n_box, device=dev), counts)
    offset = torch.arange(total, device=dev) - (counts.cumsum(0) - counts)[box_idx]
    anchor = offset % grid.A
    loc = offset // grid.A
    width = nx[box_idx]
    col = ix0[box_idx] + loc % width
    row = iy0[box_idx] + loc // width
    prior_idx = grid.start + (row * grid.W + col) * grid.A + anchor
    return prior_idx, box_idx


@dataclass
class RegionPairs:
    """(prior, gt) pairs of the effective and ignoring regions, all levels.

    ``prior``, ``gt``, ``level`` (M,) long; ``core`` (M,) bool (effective region; the
    other pairs are ignoring-region pairs, i.e. IoF with the ignoring box > thr, not core).
    """
    prior: Tensor
    gt: Tensor
    level: Tensor
    core: Tensor

    def select(self, mask: Tensor) -> 'RegionPairs':
        return RegionPairs(self.prior[mask], self.gt[mask], self.level[mask], self.core[mask])


def region_pairs(priors: Tensor, infos: List[LevelInfo], gt_boxes: Tensor, pos_scale: float, neg_scale: float,
                 min_pos_iof: float, iof: Callable[[Tensor, Tensor], Tensor], valid: Optional[Tensor] = None,
                 max_elems: int = DEFAULT_MAX_ELEMS) -> RegionPairs:
    """Effective and ignoring regions of every GT on every level.

    Args:
        priors: (P, 4).
        infos: from :func:`level_infos`.
        gt_boxes: (G, 4).
        pos_scale, neg_scale: scales of the effective / ignoring boxes.
        min_pos_iof: IoF threshold (>= 0).
        iof: ``f(priors (M, 4), boxes (M, 4)) -> (M,)`` aligned IoF over the prior's area.
        valid: (P,) bool or None; invalid priors are left out (as if absent).
        max_elems: bound on the non-grid path's temporaries.

    Returns:
        The pairs that are core or shadow, level by level.
    """
    centers = prior_centers(priors)
    core_box = scale_boxes(gt_boxes, pos_scale)
    shadow_box = scale_boxes(gt_boxes, neg_scale)
    parts = []
    for lvl, info in enumerate(infos):
        hw = torch.tensor([info.half_w, info.half_h], dtype=gt_boxes.dtype, device=gt_boxes.device)
        # a positive IoF needs the prior (half-size <= hw) to overlap the box: its centre
        # lies in the box grown by hw; the core also needs it inside the GT.
        core_lo = torch.maximum(core_box[:, :2] - hw, gt_boxes[:, :2])
        core_hi = torch.minimum(core_box[:, 2:] + hw, gt_boxes[:, 2:])
        lo = torch.minimum(core_lo, shadow_box[:, :2] - hw)
        hi = torch.maximum(core_hi, shadow_box[:, 2:] + hw)
        p, g = window_pairs(info, centers, lo, hi, max_elems)
        if valid is not None and p.numel():
            keep = valid[p]
            p, g = p[keep], g[keep]
        if p.numel() == 0:
            continue
        pb = priors[p]
        core = located_in(centers[p], gt_boxes[g]) & (iof(pb, core_box[g]) > min_pos_iof)
        shadow = (iof(pb, shadow_box[g]) > min_pos_iof) & ~core
        keep = core | shadow
        parts.append((p[keep], g[keep], torch.full_like(p[keep], lvl), core[keep]))
    if not parts:
        e = torch.zeros(0, dtype=torch.long, device=priors.device)
        return RegionPairs(e, e, e, torch.zeros(0, dtype=torch.bool, device=priors.device))
    return RegionPairs(*(torch.cat(t) for t in zip(*parts)))


def ignored_priors(priors: Tensor, infos: List[LevelInfo], ignore_boxes: Tensor, scale: float,
                   max_elems: int = DEFAULT_MAX_ELEMS) -> Tensor:
    """(P,) bool: centre strictly inside an ignore box scaled by ``scale`` (mmdet's rule)."""
    centers = prior_centers(priors)
    boxes = scale_boxes(ignore_boxes, scale)
    out = torch.zeros(priors.size(0), dtype=torch.bool, device=priors.device)
    for info in infos:
        p, b = window_pairs(info, centers, boxes[:, :2], boxes[:, 2:], max_elems)
        if p.numel():
            inside = located_in(centers[p], boxes[b])
            out[p[inside]] = True
    return out


def resolve_core(prior: Tensor, gt: Tensor, priority: Tensor, num_priors: int) -> Tuple[Tensor, Tensor]:
    """Give every prior in a core region the GT of highest priority.

    Args:
        prior: (M,) long, priors of the core pairs.
        gt: (M,) long, their GTs (0-based).
        priority: (G,) long, distinct values (see :func:`gt_priority`).
        num_priors: P.

    Returns:
        gt_inds: (P,) long, 1-based winner or 0.
        won: (M,) bool, the pairs that won (the others become shadow pairs).
    """
    best = torch.full((num_priors, ), -1, dtype=torch.long, device=prior.device)
    pr = priority[gt]
    best.scatter_reduce_(0, prior, pr, reduce='amax', include_self=True)
    won = pr == best[prior]
    gt_inds = torch.zeros(num_priors, dtype=torch.long, device=prior.device)
    gt_inds[prior[won]] = gt[won] + 1
    return gt_inds, won


def apply_shadows(gt_inds: Tensor, labels: Tensor, sh_prior: Tensor, sh_label: Tensor,
                  foreground_dominate: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """mmdet's step 5: a prior positive with a label that one of its shadows ignores.

    Args:
        gt_inds: (P,) 1-based GT, 0 negative, -1 ignored.
        labels: (P,) label of the positives, -1 elsewhere.
        sh_prior: (S,) priors of the shadow pairs.
        sh_label: (S,) label ignored by each shadow pair.
        foreground_dominate: keep the positive (drop the shadow pair) instead of turning
            the prior negative.

    Returns:
        gt_inds, labels (updated copies) and (S,) bool, the shadow pairs kept.
    """
    clash = labels[sh_prior] == sh_label
    keep = torch.ones_like(clash)
    if foreground_dominate:
        keep = ~clash
    else:
        gt_inds, labels = gt_inds.clone(), labels.clone()
        gt_inds[sh_prior[clash]] = 0
        labels[sh_prior[clash]] = -1
    return gt_inds, labels, keep


def level_mean_losses(level: Tensor, gt: Tensor, loss: Tensor, num_gts: int, num_levels: int) -> Tensor:
    """Mean loss of every (level, GT) group of pairs.

    Args:
        level: (M,) long.
        gt: (M,) long, 0-based.
        loss: (M,) float, per-pair loss.
        num_gts: G.
        num_levels: L.

    Returns:
        (L, G) means; ``INF_LOSS`` where a group is empty.
    """
    key = level * num_gts + gt
    n = num_levels * num_gts
    sums = loss.new_zeros(n).index_add_(0, key, loss)
    counts = torch.bincount(key, minlength=n)
    means = torch.where(counts > 0, sums / counts.clamp(min=1).to(loss.dtype), loss.new_full((n, ), INF_LOSS))
    return means.view(num_levels, num_gts)


def select_levels(level_losses: Tensor) -> Tensor:
    """(G,) long: per GT the level of the smallest mean loss (first on ties)."""
    if level_losses.numel() == 0:
        return torch.zeros(level_losses.size(1), dtype=torch.long, device=level_losses.device)
    return level_losses.min(dim=0)[1]


def unique_pairs(prior: Tensor, label: Tensor, num_classes_hint: int) -> Tensor:
    """(S, 2) ``[prior, label]`` rows without duplicates, sorted by prior then label."""
    if prior.numel() == 0:
        return torch.zeros((0, 2), dtype=torch.long, device=prior.device)
    base = max(int(num_classes_hint), int(label.max()) + 1, 1)
    key = torch.unique(prior * base + label)
    return torch.stack((key // base, key % base), dim=1)


__all__ = [
    'INF_LOSS', 'LevelInfo', 'RegionPairs', 'apply_shadows', 'box_areas', 'gt_priority', 'ignored_priors',
    'level_infos', 'level_mean_losses', 'located_in', 'prior_centers', 'region_pairs', 'resolve_core',
    'scale_boxes', 'select_levels', 'unique_pairs', 'window_pairs'
]
