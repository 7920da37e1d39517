"""ATSS assignment rules on plain tensors, with memory bounded by G x k*L (not P x G).

Pure PyTorch, no mmcv / mmdet import, so that it runs on any device; the IoU of the
candidate pairs comes from a function the caller passes in (mmdet's ``BboxOverlaps2D``,
mmcv's ``box_iou_rotated``, ...).

Notation: ``P`` priors (all levels), ``G`` ground-truth boxes, ``L`` levels, ``k`` = topk,
``K`` = sum over levels of ``min(k, priors of the level)`` (= k*L normally).

The rule (ATSS, per image), and how each step avoids a dense P x G tensor:

1. Candidates: on every level the ``k`` priors whose centres are nearest (L2) to a GT
   centre. The priors of one level usually lie on a regular grid (H rows, W columns,
   A anchors per location, row-major, the order of mmdet's anchor / point generators).
   The nearest k of a point then lie in a small window around its nearest grid
   location: :func:`select_candidates` measures distances only inside a (2r+1)^2*A
   window and proves the result exact with a bound (every prior outside the window is
   at least ``(r + 0.5) * stride - err`` away; the k-th distance inside must be strictly
   below that). GTs for which the proof fails (near a corner, far outside the image,
   too many ignored priors nearby) retry with a wider window; when the window would
   cover the whole level, or the level is not a grid (e.g. anchors dropped by
   ``allowed_border``), the distances to all priors of the level are computed for
   chunks of GTs (``max_elems`` numbers at a time), which is what the references do.
2. IoU only for the G x K candidate pairs (aligned IoU), threshold ``mean + std``
   (``torch.std``, unbiased) per GT, computed on a (K, G) tensor laid out like the
   references' ``candidate_overlaps`` so that the float sums are the same.
3. Centre inside the GT: horizontal GT as mmdet (min of the four centre-to-side
   distances > 0.01), rotated GT as mmrotate's ``RotatedBoxes.find_inside_points(eps=0.01)``
   (the centre rotated into the box frame with a 2x2 matmul, then
   ``|x| <= w/2 - eps`` and ``|y| <= h/2 - eps``), evaluated with the same tensor
   operations on the same (K*G)-row layout, so the floats match.
4. Conflicts: a prior positive for several GTs goes to the highest IoU (scatter
   ``amax`` over the positive (prior, gt, IoU) triples); among equal IoUs the lowest GT
   index wins (scatter ``amin``), which is what ``Tensor.max(dim)`` (first maximal
   index) gives the references. Unassigned priors keep ``max_overlaps = -INF``
   (-1e8) exactly like the references.

Ties. Distances are computed with the references' exact float expression
(``(p - g).pow(2).sum(-1).sqrt()`` on the same centres), so candidates and their order
match whenever distances are distinct. When the k-th and (k+1)-th nearest priors of a
level are at exactly the same distance (e.g. a GT centre with integer coordinates
exactly between two grid columns), which of them becomes a candidate depends on how
``topk`` breaks ties over the whole level; the window search detects this and hands that
GT / level to the level-wide search, which runs the same ``topk(dim=0)`` on the same
column of distances as the references (CPU ``topk`` treats every column on its own), so
the candidate set is the same. Ties that do not straddle the k-th place (e.g. the A
anchors of one location sharing a centre) keep the same candidate set but may come out
of ``topk`` in another order than in the references; mean and std then add the same
numbers in another order and can differ by an ulp, which changes an assignment only if a
candidate's IoU lies within that ulp of the threshold (not seen in the parity tests or
the benchmark). On CUDA, ``topk`` breaks ties its own way in both implementations.
"""
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

# The references' sentinel: ignored priors get distance INF, unassigned priors get
# max_overlaps -INF. 1e8 is exactly representable in float32.
INF = 100000000

# Default number of elements of the largest temporary a chunked step may create.
DEFAULT_MAX_ELEMS = 1 << 21


def box_centers(boxes: Tensor) -> Tensor:
    """Centres of boxes as the references compute them.

    Args:
        boxes: (N, 4) horizontal ``x1, y1, x2, y2`` or (N, 5+) rotated ``cx, cy, w, h, t``.

    Returns:
        (N, 2) centres: ``((x1 + x2) / 2, (y1 + y2) / 2)`` for horizontal boxes (mmdet's
        ``bbox_center_distance``), the first two columns for rotated boxes.
    """
    if boxes.size(-1) == 4:
        return torch.stack(((boxes[:, 0] + boxes[:, 2]) / 2.0,
                            (boxes[:, 1] + boxes[:, 3]) / 2.0), dim=1)
    return boxes[:, :2]


def center_distance(points: Tensor, centers: Tensor) -> Tensor:
    """L2 distance with the references' float expression (broadcasting).

    Args:
        points: (..., 2) prior centres.
        centers: (..., 2) GT centres, broadcastable against ``points``.

    Returns:
        (...) distances ``(points - centers).pow(2).sum(-1).sqrt()``.
    """
    return (points - centers).pow(2).sum(-1).sqrt()


@dataclass
class LevelGrid:
    """A level whose priors lie on a regular grid (row-major, A anchors per location).

    Prior ``start + (iy * W + ix) * A + a`` has centre ``(x0 + ix * sx, y0 + iy * sy)``
    up to ``err`` in each coordinate.
    """
    start: int
    H: int
    W: int
    A: int
    x0: float
    y0: float
    sx: float
    sy: float
    err: float
    scale: float  # largest |coordinate|, for the float margin of the bound


def fit_level_grid(centers: Tensor, start: int) -> Optional[LevelGrid]:
    """Recognise a regular grid of prior centres; ``None`` when the level is not one.

    Args:
        centers: (n, 2) centres of the level's priors, in the level's order.
        start: index of the level's first prior among all priors.

    Returns:
        The grid, or ``None`` (caller falls back to the chunked exact search).
    """
    n = centers.size(0)
    if n == 0 or not bool(torch.isfinite(centers).all()):
        return None
    c = centers.detach().double()
    scale = float(c.abs().max())
    tol = 1e-4 * (1.0 + scale)  # grouping tolerance; strides are far larger than this
    # A: leading priors sharing the first prior's centre.
    head = c[:min(n, 4096)]
    differs = (head - c[0]).abs().amax(dim=1) > tol
    if bool(differs.any()):
        A = int(differs.nonzero()[0, 0])
    elif head.size(0) == n:
        A = n
    else:
        return None
    if n % A:
        return None
    loc = c.view(-1, A, 2)
    anchor_dev = float((loc - loc[:, :1]).abs().max())
    loc = loc[:, 0]
    n_loc = loc.size(0)
    new_row = (loc[:, 1] - loc[0, 1]).abs() > tol
    W = int(new_row.nonzero()[0, 0]) if bool(new_row.any()) else n_loc
    if n_loc % W:
        return None
    H = n_loc // W
    g = loc.view(H, W, 2)
    x0, y0 = float(g[0, 0, 0]), float(g[0, 0, 1])
    sx = float(g[0, W - 1, 0] - g[0, 0, 0]) / (W - 1) if W > 1 else 1.0
    sy = float(g[H - 1, 0, 1] - g[0, 0, 1]) / (H - 1) if H > 1 else 1.0
    if sx <= tol or sy <= tol:
        return None
    ideal_x = x0 + torch.arange(W, dtype=torch.float64, device=c.device) * sx
    ideal_y = y0 + torch.arange(H, dtype=torch.float64, device=c.device) * sy
    dev = max(float((g[..., 0] - ideal_x[None, :]).abs().max()),
              float((g[..., 1] - ideal_y[:, None]).abs().max()))
    if dev > 0.05 * min(sx, sy):
        return None
    return LevelGrid(start, H, W, A, x0, y0, sx, sy, dev + anchor_dev, scale)


def _window_pass(grid: LevelGrid, r: int, prior_ctrs: Tensor, gt_ctrs: Tensor,
                 ignored: Optional[Tensor], kk: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Nearest ``kk`` priors of one grid level inside a window of half-width ``r``.

    Args:
        grid: the level's grid.
        r: window half-width in grid locations.
        prior_ctrs: (P, 2) centres of all priors.
        gt_ctrs: (g, 2) GT centres.
        ignored: (P,) bool, priors whose distance is INF (ignore boxes), or None.
        kk: number of candidates, ``min(k, priors of the level)``.

    Returns:
        cand: (g, kk) prior indices sorted by distance.
        ok: (g,) bool, True where the result provably equals the level-wide top-kk.
        tie: (g,) bool, True where the kk-th and (kk+1)-th nearest are at exactly the same
            distance: which of them is a candidate then depends on ``topk``'s tie handling
            over the whole level, so the caller uses the references' level-wide search.
    """
    side_x, side_y = min(2 * r + 1, grid.W), min(2 * r + 1, grid.H)
    n_win = side_x * side_y * grid.A
    g = gt_ctrs.size(0)
    dev = gt_ctrs.device
    no = torch.zeros(g, dtype=torch.bool, device=dev)
    if n_win < kk:  # a thin level (one row): the window cannot hold kk yet
        return gt_ctrs.new_zeros((g, kk), dtype=torch.long), no, no

    def window_start(coord, origin, step, size, side):
        # nearest location (clamped into the grid), then the window start kept inside
        # the grid so the window always holds side locations and contains [i-r, i+r].
        if size == 1:
            return torch.zeros(g, dtype=torch.long, device=dev)
        u = torch.nan_to_num((coord.double() - origin) / step, nan=0.0)
        i = u.round().clamp(0, size - 1).long()
        return (i - r).clamp(0, size - side)

    wx = window_start(gt_ctrs[:, 0], grid.x0, grid.sx, grid.W, side_x)
    wy = window_start(gt_ctrs[:, 1], grid.y0, grid.sy, grid.H, side_y)
    ox = torch.arange(side_x, device=dev)
    oy = torch.arange(side_y, device=dev)
    loc = (wy[:, None, None] + oy[None, :, None]) * grid.W + (wx[:, None, None] + ox[None, None, :])
    pidx = (loc[..., None] * grid.A + torch.arange(grid.A, device=dev) + grid.start).reshape(g, n_win)
    dist = center_distance(prior_ctrs[pidx], gt_ctrs[:, None, :])  # (g, n_win)
    if ignored is not None:
        dist = dist.masked_fill(ignored[pidx], INF)
    vals, pos = dist.topk(min(kk + 1, n_win), dim=1, largest=False)
    # a tie across the kk-th place inside the window (outside priors are farther, below)
    tie = vals[:, kk - 1] == vals[:, kk] if vals.size(1) > kk else no
    vals, cand = vals[:, :kk], pidx.gather(1, pos[:, :kk])
    # Every prior outside the window is at least (r + 0.5) * stride away along an axis
    # the window does not cover, minus the grid's deviation; strict inequality with a
    # float margin so that no outside prior can tie with or beat the kk-th inside.
    steps = [s for s, side, size in ((grid.sx, side_x, grid.W), (grid.sy, side_y, grid.H)) if side < size]
    if not steps:
        return cand, ~tie, tie
    bound = (r + 0.5) * min(steps) - 2.0 * grid.err - 1e-5 * (1.0 + grid.scale + min(steps))
    ok = vals[:, -1] < bound  # NaN / INF distances fail and go to the exact path
    return cand, ok & ~tie, tie & ok


def _dense_pass(level_ctrs: Tensor, start: int, gt_ctrs: Tensor, ignored_level: Optional[Tensor],
                kk: int, max_elems: int) -> Tensor:
    """Exact level-wide top-kk for chunks of GTs, laid out like the references.

    Args:
        level_ctrs: (n, 2) centres of the level's priors.
        start: index of the level's first prior.
        gt_ctrs: (g, 2) GT centres.
        ignored_level: (n,) bool or None.
        kk: candidates per GT.
        max_elems: bound on n * chunk.

    Returns:
        (g, kk) prior indices sorted by distance.
    """
    n = level_ctrs.size(0)
    g = gt_ctrs.size(0)
    out = gt_ctrs.new_empty((g, kk), dtype=torch.long)
    chunk = max(1, max_elems // max(1, 2 * n))  # (n, chunk, 2) is the largest temporary
    for s in range(0, g, chunk):
        # (n, c): the same column-per-GT layout and topk(dim=0) as the references, so
        # even ties (e.g. ignored priors at INF) break identically.
        dist = center_distance(level_ctrs[:, None, :], gt_ctrs[None, s:s + chunk, :])
        if ignored_level is not None:
            dist[ignored_level, :] = INF
        out[s:s + chunk] = (dist.topk(kk, dim=0, largest=False)[1] + start).t()
    return out


def select_candidates(prior_ctrs: Tensor, num_level_priors: Sequence[int], gt_ctrs: Tensor,
                      topk: int, ignored: Optional[Tensor] = None,
                      max_elems: int = DEFAULT_MAX_ELEMS, stats: Optional[dict] = None) -> Tensor:
    """Per level, the ``topk`` priors nearest to every GT centre, without a P x G matrix.

    Args:
        prior_ctrs: (P, 2) prior centres (see :func:`box_centers`).
        num_level_priors: priors per level; levels are consecutive blocks of ``prior_ctrs``.
        gt_ctrs: (G, 2) GT centres.
        topk: k.
        ignored: (P,) bool; ignored priors get distance INF (they become candidates only
            when a level has fewer than k other priors, as in the references).
        max_elems: bound on the size of chunked temporaries.
        stats: optional dict; the numbers of (GT, level) pairs resolved by the window
            search and by the level-wide search are added under ``'window'`` / ``'dense'``.

    Returns:
        (K, G) long prior indices, K = sum_l min(topk, n_l); rows level by level, nearest
        first within a level (the layout of the references' ``candidate_idxs``).
    """
    G = gt_ctrs.size(0)
    dev = gt_ctrs.device
    blocks: List[Tensor] = []
    start = 0
    for n in num_level_priors:
        n = int(n)
        kk = min(topk, n)
        if kk == 0:
            start += n
            continue
        level_ctrs = prior_ctrs[start:start + n]
        ign_level = ignored[start:start + n] if ignored is not None else None
        out = gt_ctrs.new_empty((G, kk), dtype=torch.long)
        pending = torch.arange(G, device=dev)
        tied: List[Tensor] = []  # GTs with a tie across the k-th place: level-wide search
        grid = fit_level_grid(level_ctrs, start) if G > 0 else None
        if grid is not None:
            # smallest window whose (2r+1)^2 locations hold ~k/A locations plus a ring
            m = math.ceil(math.sqrt(math.ceil(topk / grid.A)))
            r = m // 2 + 1
            while pending.numel() and (2 * r + 1 < grid.W or 2 * r + 1 < grid.H):
                n_win = min(2 * r + 1, grid.W) * min(2 * r + 1, grid.H) * grid.A
                chunk = max(1, max_elems // (3 * n_win))
                still = []
                for s in range(0, pending.numel(), chunk):
                    ids = pending[s:s + chunk]
                    cand, ok, tie = _window_pass(grid, r, prior_ctrs, gt_ctrs[ids], ignored, kk)
                    out[ids[ok]] = cand[ok]
                    if stats is not None:
                        stats['window'] = stats.get('window', 0) + int(ok.sum())
                    still.append(ids[~ok & ~tie])
                    tied.append(ids[tie])
                pending = torch.cat(still)
                r = 2 * r + 1
        pending = torch.cat([pending] + tied)
        if pending.numel():
            if stats is not None:
                stats['dense'] = stats.get('dense', 0) + pending.numel()
            out[pending] = _dense_pass(level_ctrs, start, gt_ctrs[pending], ign_level, kk, max_elems)
        blocks.append(out)
        start += n
    if not blocks:
        return gt_ctrs.new_empty((0, G), dtype=torch.long)
    return torch.cat(blocks, dim=1).t().contiguous()


def atss_threshold(cand_overlaps: Tensor) -> Tensor:
    """Per-GT IoU threshold ``mean + std`` (unbiased ``torch.std``).

    Args:
        cand_overlaps: (K, G) IoUs of the candidates (the references' layout).

    Returns:
        (G,) thresholds (NaN where K == 1, as ``torch.std`` gives; nothing passes then).
    """
    return cand_overlaps.mean(0) + cand_overlaps.std(0)


def centers_inside_hboxes(points: Tensor, boxes: Tensor, eps: float = 0.01) -> Tensor:
    """mmdet's rule: min of the four centre-to-side distances > eps.

    Args:
        points: (M, 2) prior centres.
        boxes: (M, 4) GT boxes ``x1, y1, x2, y2`` aligned with ``points``.

    Returns:
        (M,) bool.
    """
    left = points[:, 0] - boxes[:, 0]
    top = points[:, 1] - boxes[:, 1]
    right = boxes[:, 2] - points[:, 0]
    bottom = boxes[:, 3] - points[:, 1]
    return torch.stack((left, top, right, bottom), dim=1).min(dim=1)[0] > eps


def centers_inside_rboxes(points: Tensor, boxes: Tensor, eps: float = 0.01) -> Tensor:
    """mmrotate's rule (``RotatedBoxes.find_inside_points(is_aligned=True, eps)``).

    The offset from the box centre is rotated into the box frame by
    ``[[cos t, sin t], [-sin t, cos t]]`` (a batched 2x2 matmul, as mmrotate does it so
    the floats agree), then it must satisfy ``-w/2 + eps <= x <= w/2 - eps`` and the
    same for y with h (boundaries inclusive).

    Args:
        points: (M, 2) prior centres.
        boxes: (M, 5) GT boxes ``cx, cy, w, h, t`` aligned with ``points``.

    Returns:
        (M,) bool.
    """
    ctr, wh, angle = torch.split(boxes, [2, 2, 1], dim=-1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.cat([cos, sin, -sin, cos], dim=-1).reshape(boxes.size(0), 2, 2)
    local = torch.matmul(rot, (points - ctr)[..., None]).squeeze(-1)
    x, y = local[..., 0], local[..., 1]
    w, h = wh[..., 0], wh[..., 1]
    return (x <= w / 2 - eps) & (x >= -w / 2 + eps) & (y <= h / 2 - eps) & (y >= -h / 2 + eps)


def resolve_conflicts(prior_idx: Tensor, gt_idx: Tensor, overlaps: Tensor,
                      num_priors: int) -> Tuple[Tensor, Tensor]:
    """Give every prior the positive GT with the highest IoU (lowest GT index on ties).

    Args:
        prior_idx: (M,) long, priors of the positive pairs.
        gt_idx: (M,) long, 0-based GTs of the positive pairs.
        overlaps: (M,) IoU of the pairs.
        num_priors: P.

    Returns:
        gt_inds: (P,) long, 1-based GT or 0 (no positive pair).
        max_overlaps: (P,) the winning IoU, ``-INF`` where there is none.
    """
    best = overlaps.new_full((num_priors, ), -INF)
    best.scatter_reduce_(0, prior_idx, overlaps, reduce='amax', include_self=True)
    wins = overlaps == best[prior_idx]
    big = torch.iinfo(torch.long).max
    winner = torch.full((num_priors, ), big, dtype=torch.long, device=overlaps.device)
    winner.scatter_reduce_(0, prior_idx[wins], gt_idx[wins], reduce='amin', include_self=True)
    assigned = best != -INF
    gt_inds = torch.where(assigned, winner + 1, torch.zeros_like(winner))
    return gt_inds, best


def atss_assign(prior_ctrs: Tensor, num_level_priors: Sequence[int], gt_ctrs: Tensor, topk: int,
                pair_overlaps: Callable[[Tensor, Tensor], Tensor],
                inside: Callable[[Tensor, Tensor], Tensor], ignored: Optional[Tensor] = None,
                max_elems: int = DEFAULT_MAX_ELEMS, stats: Optional[dict] = None) -> Tuple[Tensor, Tensor]:
    """The whole ATSS rule for one image (G > 0 and P > 0).

    Args:
        prior_ctrs: (P, 2) prior centres.
        num_level_priors: priors per level.
        gt_ctrs: (G, 2) GT centres.
        topk: k.
        pair_overlaps: ``f(prior_idx (M,), gt_idx (M,)) -> (M,)`` IoU (or cost) of pairs.
        inside: ``f(prior_idx (M,), gt_idx (M,)) -> (M,) bool``, prior centre inside GT.
        ignored: (P,) bool or None, priors to treat as infinitely far.
        max_elems: bound on chunked temporaries.
        stats: optional dict for search statistics (see :func:`select_candidates`).

    Returns:
        gt_inds: (P,) long, 1-based assigned GT or 0 (ignored priors are *not* set to -1
            here; the caller does that before applying ``gt_inds > 0``).
        max_overlaps: (P,) IoU of the assignment, ``-INF`` where none.
    """
    P, G = prior_ctrs.size(0), gt_ctrs.size(0)
    cand = select_candidates(prior_ctrs, num_level_priors, gt_ctrs, topk, ignored, max_elems, stats)
    K = cand.size(0)
    if K == 0:
        return (torch.zeros(P, dtype=torch.long, device=prior_ctrs.device),
                prior_ctrs.new_full((P, ), -INF))
    prior_idx = cand.reshape(-1)  # row-major (K, G): pair i*G + j is (cand[i, j], gt j)
    gt_idx = torch.arange(G, device=cand.device).repeat(K)
    cand_overlaps = pair_overlaps(prior_idx, gt_idx).reshape(K, G)
    is_pos = cand_overlaps >= atss_threshold(cand_overlaps)[None, :]
    is_pos &= inside(prior_idx, gt_idx).reshape(K, G)
    keep = is_pos.reshape(-1)
    return resolve_conflicts(prior_idx[keep], gt_idx[keep], cand_overlaps.reshape(-1)[keep], P)
