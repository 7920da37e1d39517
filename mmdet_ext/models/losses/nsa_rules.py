"""NSA's pure tensor rules (specs/sfod.md section 3): view geometry, box dropping, consistency terms.

No mmcv / mmdet imports. Conventions: boxes are xyxy in pixels; a view's geometry is the 3x3
homography that maps reference-view (teacher) pixel coordinates to that view's pixel coordinates
(MMDetection records it per view as ``homography_matrix``); a feature map of stride ``s`` has its
cell (i, j) centred at pixel ((j + 0.5) s, (i + 0.5) s).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


# ------------------------------------------------------------------------------- geometry
def flip_matrix(width: float, height: float, direction: str = 'horizontal') -> Tensor:
    """(3, 3) homography of a flip of a ``width`` x ``height`` image (MMDetection's convention)."""
    m = torch.eye(3)
    if direction in ('horizontal', 'diagonal'):
        m[0, 0], m[0, 2] = -1., width
    if direction in ('vertical', 'diagonal'):
        m[1, 1], m[1, 2] = -1., height
    if direction not in ('horizontal', 'vertical', 'diagonal'):
        raise ValueError(f"flip direction must be 'horizontal', 'vertical' or 'diagonal', got {direction!r}")
    return m


def scale_translate_matrix(sx: float, sy: float, tx: float = 0., ty: float = 0.) -> Tensor:
    """(3, 3) homography x' = sx x + tx, y' = sy y + ty (a resize then a shift)."""
    return torch.tensor([[sx, 0., tx], [0., sy, ty], [0., 0., 1.]])


def map_points(points: Tensor, matrix: Tensor) -> Tensor:
    """Map (n, 2) points through a (3, 3) homography."""
    ones = points.new_ones((points.shape[0], 1))
    out = torch.cat([points, ones], dim=1) @ matrix.to(points).T
    return out[:, :2] / out[:, 2:3]


def map_boxes(boxes: Tensor, matrix: Tensor) -> Tensor:
    """(n, 4) xyxy boxes -> the enclosing xyxy boxes of their mapped corners, not clipped."""
    if boxes.numel() == 0:
        return boxes.reshape(0, 4)
    x1, y1, x2, y2 = boxes.unbind(-1)
    corners = torch.stack([torch.stack([x1, y1], -1), torch.stack([x2, y1], -1),
                           torch.stack([x1, y2], -1), torch.stack([x2, y2], -1)], dim=1)  # (n, 4, 2)
    mapped = map_points(corners.reshape(-1, 2), matrix).reshape(-1, 4, 2)
    return torch.cat([mapped.min(dim=1).values, mapped.max(dim=1).values], dim=1)


def drop_mapped_boxes(mapped: Tensor, image_hw: Tuple[int, int], min_visible: float = 0.6,
                      min_size: float = 10., max_area_frac: float = 0.75) -> Tuple[Tensor, Tensor]:
    """NSA's rules for proposals mapped into a lightly disturbed view.

    Args:
        mapped: (n, 4) boxes in the view's pixels, not clipped (parts may fall outside the crop).
        image_hw: the view's image size (h, w).

    Returns:
        clipped boxes (n, 4) and a keep mask (n,): a box is dropped when less than ``min_visible``
        of its area lies inside the image, when its clipped width or height is below ``min_size``
        pixels, or when its clipped area exceeds ``max_area_frac`` of the image.
    """
    h, w = image_hw
    clipped = torch.stack([mapped[:, 0].clamp(0, w), mapped[:, 1].clamp(0, h),
                           mapped[:, 2].clamp(0, w), mapped[:, 3].clamp(0, h)], dim=1)
    full = (mapped[:, 2] - mapped[:, 0]).clamp(min=0) * (mapped[:, 3] - mapped[:, 1]).clamp(min=0)
    cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    inside = cw.clamp(min=0) * ch.clamp(min=0)
    keep = (inside >= min_visible * full) & (full > 0) & (cw >= min_size) & (ch >= min_size) \
        & (inside <= max_area_frac * h * w)
    return clipped, keep


def warp_to_reference(feat: Tensor, matrices: Tensor, ref_hw: Tuple[int, int], ref_stride: float,
                      view_stride: float, view_image_hw: Optional[Sequence[Tuple[int, int]]] = None
                      ) -> Tuple[Tensor, Tensor]:
    """Resample a view's feature map on the reference view's grid ("warping back").

    Args:
        feat: (N, C, h, w) feature map of the disturbed view, stride ``view_stride``.
        matrices: (N, 3, 3) homographies reference pixels -> view pixels.
        ref_hw: (H, W) cells of the reference feature map, stride ``ref_stride``.
        view_image_hw: per image, the view's real image size (h, w) without padding; cells that
            map outside it are invalid (defaults to the whole feature map).

    Returns:
        warped (N, C, H, W) bilinear samples, and valid (N, 1, H, W) in {0, 1}.
    """
    n, _, h, w = feat.shape
    big_h, big_w = ref_hw
    ys = (torch.arange(big_h, dtype=feat.dtype, device=feat.device) + 0.5) * ref_stride
    xs = (torch.arange(big_w, dtype=feat.dtype, device=feat.device) + 0.5) * ref_stride
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    points = torch.stack([gx.flatten(), gy.flatten(), torch.ones_like(gx.flatten())], dim=0)  # (3, HW)
    mapped = matrices.to(feat) @ points  # (N, 3, HW)
    qx, qy = mapped[:, 0] / mapped[:, 2], mapped[:, 1] / mapped[:, 2]
    # Pixel-centre convention of grid_sample (align_corners=False): the feature map spans
    # [0, w * stride] pixels.
    grid = torch.stack([2 * qx / (w * view_stride) - 1, 2 * qy / (h * view_stride) - 1], dim=-1)
    warped = F.grid_sample(feat, grid.reshape(n, big_h, big_w, 2), mode='bilinear',
                           padding_mode='zeros', align_corners=False)
    if view_image_hw is None:
        limits = feat.new_tensor([[h * view_stride, w * view_stride]]).expand(n, 2)
    else:
        limits = feat.new_tensor([list(s) for s in view_image_hw])
    valid = (qx >= 0) & (qy >= 0) & (qx <= limits[:, 1:2]) & (qy <= limits[:, 0:1])
    return warped, valid.to(feat.dtype).reshape(n, 1, big_h, big_w)


def axis_scales(matrices: Tensor) -> Tensor:
    """(N, 2) signed x / y scales of flip + resize + translate homographies (N, 3, 3)."""
    return torch.stack([matrices[:, 0, 0], matrices[:, 1, 1]], dim=1)


def rpn_deltas_to_reference(deltas: Tensor, scales: Tensor, stds: Sequence[float] = (1., 1., 1., 1.)
                            ) -> Tensor:
    """Express a warped-back RPN box map in reference-view terms.

    An anchor does not scale with the image: an object scaled by s (and mirrored when s < 0)
    has dx, dy multiplied by s and log-sizes shifted by log|s| in the view, so undo that.

    Args:
        deltas: (N, 4A, H, W) normalised deltas (dx, dy, dw, dh per anchor) sampled from the view.
        scales: (N, 2) signed x / y scales of the view.
    """
    n, c, h, w = deltas.shape
    d = deltas.reshape(n, c // 4, 4, h, w)
    std = d.new_tensor(stds).reshape(1, 1, 4, 1, 1)
    sx, sy = scales[:, 0].reshape(n, 1, 1, 1), scales[:, 1].reshape(n, 1, 1, 1)
    out = torch.stack([d[:, :, 0] / sx, d[:, :, 1] / sy,
                       d[:, :, 2] - torch.log(sx.abs()) / std[:, :, 2],
                       d[:, :, 3] - torch.log(sy.abs()) / std[:, :, 3]], dim=2)
    return out.reshape(n, c, h, w)


def roi_deltas_to_reference(deltas: Tensor, scales: Tensor) -> Tensor:
    """RoI-head deltas (R, 4K) predicted on a mapped box: only the flips show (dx, dy change sign);
    the box scales with the object, so sizes are unchanged. ``scales`` (R, 2) per RoI."""
    r = deltas.shape[0]
    d = deltas.reshape(r, -1, 4)
    sign = torch.sign(scales).to(d)
    return torch.cat([d[..., :2] * sign[:, None, :], d[..., 2:]], dim=-1).reshape(r, -1)


def flip_roi_feats(feats: Tensor, scales: Tensor) -> Tensor:
    """Pooled RoI features (R, C, k, k) of a mirrored view mirrored back (per RoI signs (R, 2))."""
    out = feats
    fx, fy = scales[:, 0] < 0, scales[:, 1] < 0
    if fx.any():
        out = torch.where(fx[:, None, None, None], out.flip(-1), out)
    if fy.any():
        out = torch.where(fy[:, None, None, None], out.flip(-2), out)
    return out


# ---------------------------------------------------------------------------------- masks
def box_mask(boxes: Sequence[Tensor], ref_hw: Tuple[int, int], stride: float) -> Tensor:
    """(N, 1, H, W) mask of cells whose centre lies in any of the image's (n_i, 4) boxes."""
    big_h, big_w = ref_hw
    device = boxes[0].device if len(boxes) else None
    ys = (torch.arange(big_h, device=device) + 0.5) * stride
    xs = (torch.arange(big_w, device=device) + 0.5) * stride
    masks = []
    for b in boxes:
        if b.numel() == 0:
            masks.append(torch.zeros(big_h, big_w, device=device))
            continue
        in_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] <= b[:, 2:3])  # (n, W)
        in_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] <= b[:, 3:4])  # (n, H)
        masks.append((in_y[:, :, None] & in_x[:, None, :]).any(dim=0).float())
    return torch.stack(masks)[:, None]


def box_label_map(boxes: Sequence[Tensor], labels: Sequence[Tensor], ref_hw: Tuple[int, int],
                  stride: float, background: int) -> Tensor:
    """(N, H, W) class of each cell: the label of the smallest box containing its centre, else
    ``background``."""
    big_h, big_w = ref_hw
    out = []
    for b, lab in zip(boxes, labels):
        m = torch.full((big_h, big_w), background, dtype=torch.long, device=lab.device)
        if b.numel():
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            for k in area.argsort(descending=True).tolist():  # small boxes painted last win
                one = box_mask([b[k:k + 1]], ref_hw, stride)[0, 0].bool()
                m[one] = lab[k]
        out.append(m)
    return torch.stack(out)


def salient_peak_mask(feat: Tensor, kernel: int = 3) -> Tensor:
    """(N, 1, H, W) mask of salient peaks: cells whose energy (mean square over channels) is a
    local maximum in a ``kernel`` window and above the image's mean + one standard deviation."""
    energy = feat.pow(2).mean(dim=1, keepdim=True)
    local_max = F.max_pool2d(energy, kernel, stride=1, padding=kernel // 2)
    flat = energy.flatten(1)
    thr = (flat.mean(dim=1) + flat.std(dim=1)).reshape(-1, 1, 1, 1)
    return ((energy >= local_max) & (energy > thr)).to(feat.dtype)


# ----------------------------------------------------------------------------- consistency
def instance_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Per sample and channel zero mean, unit variance over the spatial axes of (N, C, ...)."""
    return F.instance_norm(x, eps=eps) if x.dim() >= 3 else x


def masked_mse(reference: Tensor, other: Tensor, weight: Tensor) -> Tensor:
    """sum(weight * (reference - other)^2) / (sum(weight) * C) for (N, C, H, W) maps and
    (N, 1, H, W) weights; 0 (attached to ``other``) when the weights are all 0."""
    sq = (reference - other).pow(2) * weight
    denom = weight.sum() * reference.shape[1]
    if denom <= 0:
        return other.sum() * 0.
    return sq.sum() / denom


def weighted_roi_mse(reference: Tensor, other: Tensor, weight: Tensor) -> Tensor:
    """sum_r w_r mean((reference_r - other_r)^2) / sum_r w_r over (R, ...) tensors, weights (R,)."""
    if reference.shape[0] == 0 or weight.sum() <= 0:
        return other.sum() * 0.
    per_roi = (reference - other).pow(2).flatten(1).mean(dim=1)
    return (weight * per_roi).sum() / weight.sum()


def prototype_contrast(student: Tensor, teacher: Tensor, labels: Tensor, num_classes: int,
                       num_hard_background: int = 2, background_weight: float = 0.1,
                       negative_scale: float = 2.) -> Tensor:
    """NSA's instance-level prototype contrast.

    Class centres = mean of the L2-normalised teacher features of each foreground pseudo class
    present. For every foreground student feature i (label y_i):
    ``-log(e^pos / (e^pos + negative_scale * sum_k w_k e^neg_k))`` with pos = cos(s_i, centre_y),
    negatives = the other centres (w = 1) and the ``num_hard_background`` background teacher
    features most similar to s_i (w = ``background_weight``); averaged over i.

    Args:
        student: (n, D) student features (with gradient); teacher: (n, D) the paired teacher features.
        labels: (n,) pseudo classes, ``num_classes`` = background.

    Returns:
        scalar; 0 (attached to ``student``) without foreground samples.
    """
    if student.shape != teacher.shape or labels.shape[0] != student.shape[0]:
        raise ValueError(f'prototype_contrast: student {tuple(student.shape)}, teacher '
                         f'{tuple(teacher.shape)} and labels {tuple(labels.shape)} must pair up')
    fg = labels < num_classes
    if not fg.any():
        return student.sum() * 0.
    t = F.normalize(teacher.detach(), dim=1)
    s = F.normalize(student[fg], dim=1)
    y = labels[fg]
    present = torch.unique(y)
    centres = F.normalize(torch.stack([t[fg][y == c].mean(dim=0) for c in present]), dim=1)  # (P, D)
    sim = s @ centres.T  # (n_fg, P)
    own = (y[:, None] == present[None, :])
    pos = sim[own]
    neg_terms = (sim.exp() * (~own)).sum(dim=1)
    bg = t[~fg]
    if bg.shape[0] and num_hard_background > 0:
        bg_sim = s @ bg.T
        hard = bg_sim.topk(min(num_hard_background, bg.shape[0]), dim=1).values
        neg_terms = neg_terms + background_weight * hard.exp().sum(dim=1)
    loss = -(pos - torch.log(pos.exp() + negative_scale * neg_terms))
    return loss.mean()


NSA_DEFAULT_WEIGHTS = dict(mse_pix=2., contrast_pix=0.1, mse_ins=1., contrast_ins=0.1, out=0.1,
                           scale=6., factor=0.1)


def combine_nsa_terms(terms: Dict[str, Tensor], weights: Optional[Dict[str, float]] = None
                      ) -> Dict[str, Tensor]:
    """NSA's weighting: pix = 2 MSE_pix + 0.1 contrast_pix; ins = MSE_ins + 0.1 contrast_ins;
    out = ECA_maps + ECA_vectors; L = 6 (pix + ins + 0.1 out), added to the detector's losses
    with factor 0.1.

    Args:
        terms: ``mse_pix``, ``contrast_pix``, ``mse_ins``, ``contrast_ins``, ``eca_maps``,
            ``eca_vectors`` (scalars).

    Returns:
        ``loss_nsa_pix``, ``loss_nsa_ins``, ``loss_nsa_out``: the three weighted parts (their sum
        is factor x L).
    """
    w = dict(NSA_DEFAULT_WEIGHTS, **(weights or {}))
    unknown = set(weights or {}) - set(NSA_DEFAULT_WEIGHTS)
    if unknown:
        raise KeyError(f'unknown NSA weights {sorted(unknown)}; expected some of {sorted(NSA_DEFAULT_WEIGHTS)}')
    outer = w['factor'] * w['scale']
    return dict(
        loss_nsa_pix=outer * (w['mse_pix'] * terms['mse_pix'] + w['contrast_pix'] * terms['contrast_pix']),
        loss_nsa_ins=outer * (w['mse_ins'] * terms['mse_ins'] + w['contrast_ins'] * terms['contrast_ins']),
        loss_nsa_out=outer * w['out'] * (terms['eca_maps'] + terms['eca_vectors']))
