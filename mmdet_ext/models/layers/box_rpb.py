"""BoxRPB: box-to-pixel relative position bias for global cross-attention (Plain DETR).

Pure PyTorch (no mmcv / mmdet import): ``benchmarks/boxrpb.py`` loads this file by path on a
machine without mmcv. Spec: ``../shared/specs/plain_detr_boxrpb.md``.

Notation: B images, nQ queries, ``heads`` attention heads, a single key feature map of
H x W at stride ``s``; keys flattened row-major (i * W + j) like ``x.flatten(2)``.
Pixel centres px_j = (j + 0.5) s, py_i = (i + 0.5) s, in pixels of the padded input.

* :func:`ref_boxes_to_pixels` turns reference boxes (normalised cxcywh as DETR decoders carry
  them, or xyxy pixels) into xyxy pixels of the padded input, checking them.
* :func:`box_rpb_axial` evaluates the two MLPs on the offsets of the box corners to the pixel
  columns / rows: Bx (B, heads, nQ, W) and By (B, heads, nQ, H) -- the axial decomposition.
* :func:`combine_axial` expands them to the full bias (B, heads, nQ, H*W),
  B[..., i*W + j] = Bx[..., j] + By[..., i].
* :func:`box_rpb_attention_naive`: straightforward masked attention with the full bias
  (autograd keeps the bias, the logits, the probabilities and the MLP hidden activations).
* :func:`box_rpb_attention`: the memory-lean path, a custom autograd Function that walks the
  queries in chunks and never holds the full bias or the MLP's hidden activations (recomputed
  chunk by chunk in backward); it keeps the attention map as plain attention does (default) or
  recomputes it too (``keep_probs=False``: the least memory). Same values and gradients.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LOG2_8 = math.log2(8.0)
# Elements of one chunk's (B, heads, chunk, H*W) logits in the lean path (16 MB in fp32). At 50 x 84
# keys, 8 heads, 1800 queries, 1 CPU thread (benchmarks/boxrpb.py's layer): 2^22 was 3-5 % faster
# than 2^21 and within 2 % of 2^23.
DEFAULT_CHUNK_ELEMS = 1 << 22


# ----------------------------------------------------------------------------- checks
def check_feature_stride(feat_size: Sequence[int], stride: float,
                         img_shape: Optional[Sequence[int]]) -> None:
    """Raise if a (H, W) map at ``stride`` cannot be the map of a padded input ``img_shape``.

    A backbone maps an input of h pixels to ceil(h / s) or floor(h / s) cells, so
    |H * s - h| < s must hold on both axes.
    """
    if stride <= 0:
        raise ValueError(f'BoxRPB: the feature stride must be positive, got {stride}')
    if img_shape is None:
        return
    for axis, n, size in (('height', feat_size[0], img_shape[0]), ('width', feat_size[1], img_shape[1])):
        if abs(n * stride - size) >= stride:
            raise ValueError(
                f'BoxRPB: feature stride {stride} does not match the image: a padded input {axis} of '
                f'{size} px needs {math.floor(size / stride)}..{math.ceil(size / stride)} cells at that '
                f'stride, the feature map has {n} (feature size {tuple(feat_size)}, image {tuple(img_shape)})')


def ref_boxes_to_pixels(ref_boxes: Tensor, feat_size: Sequence[int], stride: float,
                        valid_ratios: Optional[Tensor] = None, box_format: str = 'cxcywh',
                        img_shape: Optional[Sequence[int]] = None) -> Tensor:
    """Reference boxes -> corners (x1, y1, x2, y2) in pixels of the padded input.

    Args:
        ref_boxes: (B, nQ, 4). ``'cxcywh'``: normalised to the valid (unpadded) image region
            as DETR decoders carry them (scaled by ``valid_ratios`` and by the feature map size
            times ``stride``); ``'xyxy'``: already in pixels (``valid_ratios`` ignored).
        feat_size: (H, W) of the key map.
        stride: pixels per feature cell.
        valid_ratios: (B, 2) as (w, h) fractions of the padded map the image covers; None = 1.
        img_shape: (h, w) of the padded input, to check ``stride`` against; None skips.

    Returns:
        (B, nQ, 4) xyxy pixels.

    Raises:
        ValueError naming the problem: wrong shape, NaN / inf coordinates, boxes with
        non-positive width or height, a stride that does not match the image.
    """
    if ref_boxes.dim() != 3 or ref_boxes.shape[-1] != 4:
        raise ValueError(f'BoxRPB: reference boxes must be (B, nQ, 4), got {tuple(ref_boxes.shape)}')
    if box_format not in ('cxcywh', 'xyxy'):
        raise ValueError(f"BoxRPB: box_format must be 'cxcywh' or 'xyxy', got {box_format!r}")
    check_feature_stride(feat_size, stride, img_shape)
    if not bool(torch.isfinite(ref_boxes).all()):
        bad = (~torch.isfinite(ref_boxes)).any(-1).nonzero()[0].tolist()
        raise ValueError(f'BoxRPB: reference boxes contain NaN or inf (first at [image, query] = {bad})')
    if box_format == 'cxcywh':
        size = ref_boxes[..., 2:]
    else:
        size = ref_boxes[..., 2:] - ref_boxes[..., :2]
    if not bool((size > 0).all()):
        bad = (size <= 0).any(-1).nonzero()[0].tolist()
        raise ValueError(f'BoxRPB: reference boxes must have positive width and height; got a '
                         f'non-positive size {size[bad[0], bad[1]].tolist()} at [image, query] = {bad}')
    if box_format == 'xyxy':
        return ref_boxes
    H, W = feat_size
    scale = ref_boxes.new_tensor([W * stride, H * stride])
    if valid_ratios is not None:
        if valid_ratios.shape != (ref_boxes.shape[0], 2):
            raise ValueError(f'BoxRPB: valid_ratios must be (B, 2) = {(ref_boxes.shape[0], 2)}, '
                             f'got {tuple(valid_ratios.shape)}')
        scale = valid_ratios.to(ref_boxes.dtype)[:, None, :] * scale
    centre, wh = ref_boxes[..., :2] * scale, ref_boxes[..., 2:] * scale
    return torch.cat([centre - wh / 2, centre + wh / 2], -1)


# ----------------------------------------------------------------------------- offsets / MLPs
def log_transform(d: Tensor) -> Tensor:
    """The 'log' variant: sign(d) * log2(|d| + 1) / log2(8) (odd, monotone, f(+-7) = +-1)."""
    return torch.sign(d) * torch.log2(d.abs() + 1.0) / _LOG2_8


def _log_transform_grad(d: Tensor) -> Tensor:
    return 1.0 / ((d.abs() + 1.0) * math.log(8.0))


def pixel_centres(feat_size: Sequence[int], stride: float, like: Tensor) -> Tuple[Tensor, Tensor]:
    """Pixel centres px (W,) = (j + 0.5) s and py (H,) = (i + 0.5) s, dtype / device of ``like``."""
    H, W = feat_size
    kw = dict(device=like.device, dtype=like.dtype)
    return (torch.arange(W, **kw) + 0.5) * stride, (torch.arange(H, **kw) + 0.5) * stride


def box_pixel_offsets(boxes_xyxy: Tensor, feat_size: Sequence[int], stride: float,
                      mode: str = 'linear') -> Tuple[Tensor, Tensor]:
    """Corner-minus-pixel offsets: dx (B, nQ, W, 2) = (x1 - px_j, x2 - px_j), dy (B, nQ, H, 2)."""
    if mode not in ('linear', 'log'):
        raise ValueError(f"BoxRPB: mode must be 'linear' or 'log', got {mode!r}")
    px, py = pixel_centres(feat_size, stride, boxes_xyxy)
    dx = boxes_xyxy[..., None, 0::2] - px[:, None]  # (B, nQ, W, 2): x1, x2
    dy = boxes_xyxy[..., None, 1::2] - py[:, None]  # (B, nQ, H, 2): y1, y2
    if mode == 'log':
        dx, dy = log_transform(dx), log_transform(dy)
    return dx, dy


def make_rpb_mlp(hidden: int, heads: int) -> nn.Sequential:
    """Linear(2 -> hidden, bias) -> ReLU -> Linear(hidden -> heads, no bias)."""
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, heads, bias=False))


def mlp_params(mlp: nn.Sequential) -> Tuple[Tensor, Tensor, Tensor]:
    """(w1 (hidden, 2), b1 (hidden,), w2 (heads, hidden)) of a :func:`make_rpb_mlp` MLP."""
    return mlp[0].weight, mlp[0].bias, mlp[2].weight


def _mlp(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor) -> Tensor:
    return F.linear(F.relu(F.linear(x, w1, b1)), w2)


def box_rpb_axial(boxes_xyxy: Tensor, feat_size: Sequence[int], stride: float, mlp_x, mlp_y,
                  mode: str = 'linear') -> Tuple[Tensor, Tensor]:
    """Axial BoxRPB terms Bx (B, heads, nQ, W) and By (B, heads, nQ, H).

    ``mlp_x`` / ``mlp_y``: :func:`make_rpb_mlp` modules or (w1, b1, w2) tuples.
    """
    px = mlp_params(mlp_x) if isinstance(mlp_x, nn.Module) else tuple(mlp_x)
    py = mlp_params(mlp_y) if isinstance(mlp_y, nn.Module) else tuple(mlp_y)
    dx, dy = box_pixel_offsets(boxes_xyxy, feat_size, stride, mode)
    bx = _mlp(dx, *px).permute(0, 3, 1, 2)
    by = _mlp(dy, *py).permute(0, 3, 1, 2)
    return bx, by


def combine_axial(bx: Tensor, by: Tensor) -> Tensor:
    """Full bias (B, heads, nQ, H*W) from Bx (..., W) and By (..., H), keys row-major."""
    return (by[..., :, None] + bx[..., None, :]).flatten(-2)


def box_rpb_bias(ref_boxes: Tensor, feat_size: Sequence[int], stride: float, mlp_x, mlp_y,
                 mode: str = 'linear', box_format: str = 'cxcywh',
                 valid_ratios: Optional[Tensor] = None,
                 img_shape: Optional[Sequence[int]] = None) -> Tensor:
    """BoxRPB: reference boxes -> per-head bias (B, heads, nQ, H*W). See the module docstring."""
    boxes = ref_boxes_to_pixels(ref_boxes, feat_size, stride, valid_ratios, box_format, img_shape)
    return combine_axial(*box_rpb_axial(boxes, feat_size, stride, mlp_x, mlp_y, mode))


# ----------------------------------------------------------------------------- attention
def padding_bias(key_padding_mask: Optional[Tensor], dtype, pad_value: Optional[float] = None):
    """Additive (B, 1, 1, N) key mask: 0 at valid keys, ``pad_value`` (default -inf) at padded ones.

    -inf, not the reference's -100: with the linear BoxRPB the bias of far pixels is itself
    hundreds below zero, so a -100 padded key can outweigh valid keys and the output of an image
    changes with the padding of its batch; -inf gives padded keys exactly zero weight, so a
    batched image equals the same image alone (a row always keeps >= 1 valid key).
    """
    if key_padding_mask is None:
        return None
    value = float('-inf') if pad_value is None else pad_value
    bias = torch.zeros(key_padding_mask.shape, dtype=dtype, device=key_padding_mask.device)
    return bias.masked_fill_(key_padding_mask, value)[:, None, None, :]


def box_rpb_attention_naive(q: Tensor, k: Tensor, v: Tensor, boxes_xyxy: Optional[Tensor],
                            feat_size: Sequence[int], stride: float, mlp_x=None, mlp_y=None,
                            mode: str = 'linear', key_padding_mask: Optional[Tensor] = None,
                            pad_value: Optional[float] = None) -> Tensor:
    """Straightforward attention softmax(q k^T + B + mask) v with the full bias.

    Args:
        q: (B, heads, nQ, d_head), already scaled by 1/sqrt(d_head).
        k, v: (B, heads, H*W, d_head).
        boxes_xyxy: (B, nQ, 4) pixels; None (or mlp_x None) = no bias (plain attention).
        key_padding_mask: (B, H*W) bool, True at padded keys.
        pad_value: None = -inf (ours); -100. reproduces the reference's soft mask.

    Returns:
        (B, heads, nQ, d_head).
    """
    logits = q @ k.transpose(-1, -2)
    if boxes_xyxy is not None and mlp_x is not None:
        logits = logits + combine_axial(*box_rpb_axial(boxes_xyxy, feat_size, stride, mlp_x, mlp_y, mode))
    pad = padding_bias(key_padding_mask, logits.dtype, pad_value)
    if pad is not None:
        logits = logits + pad
    return logits.softmax(-1) @ v


# Rows of the MLPs' hidden layer processed at once in the lean path: ~1024 x 512 floats (2 MB, the
# L2 size here) stay in cache. x-axis MLP of benchmarks/boxrpb.py's layer, forward + backward, 1
# thread: 1024 rows 114 ms, 256 / 512 rows the same, 2048 rows 128-137 ms, 4096 rows 173-264 ms.
MLP_ROWS = 1024


def _separable_preacts(corners: Tensor, pix: Tensor, w1: Tensor, b1: Tensor) -> Tuple[Tensor, Tensor]:
    """First-layer pre-activations of a 'linear' axis MLP as a sum of a query and a pixel term.

    w1 (c1 - p, c2 - p) + b1 = (w1 (c1, c2) + b1) + (-p (w1[:, 0] + w1[:, 1])) = A[q] + P[j].
    corners (Q, 2), pix (L,) -> A (Q, hidden), P (L, hidden). Why: the hidden block is then one
    broadcast add (cache-resident) instead of a K = 2 matrix product, which MKL writes with
    streaming stores (the ReLU then re-reads it from memory): 60 vs 420-565 us a 1024 x 512 block
    (add + ReLU vs linear + ReLU, 1 CPU thread).
    """
    return F.linear(corners, w1, b1), pix[:, None] * -w1.sum(1)


class _HiddenBlocks:
    """relu(first layer) of one axis MLP, block by block, for x (R, 2) offsets (rows ordered
    (query, pixel)); with ``sep`` = (A (Q, hidden), P (L, hidden)) rows are R = Q * L and each
    block is whole queries (:func:`_separable_preacts`); without it, F.linear on the offsets."""

    def __init__(self, x: Tensor, w1: Tensor, b1: Tensor, sep=None, rows: int = MLP_ROWS):
        self.x, self.w1, self.b1, self.sep = x, w1, b1, sep
        self.step = rows if sep is None else max(1, rows // sep[1].shape[0]) * sep[1].shape[0]
        self.buf = x.new_empty(min(self.step, x.shape[0]), w1.shape[0]) if sep is not None else None

    def __iter__(self):
        for s in range(0, self.x.shape[0], self.step):
            e = min(s + self.step, self.x.shape[0])
            if self.sep is None:
                yield s, e, F.linear(self.x[s:e], self.w1, self.b1).clamp_(min=0)
            else:
                A, P = self.sep
                L = P.shape[0]
                out = self.buf[:e - s].view((e - s) // L, L, -1)
                torch.add(A[s // L:e // L, None, :], P[None], out=out)
                yield s, e, out.view(e - s, -1).clamp_(min=0)


def _mlp_rows(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, sep=None) -> Tensor:
    """relu(x w1^T + b1) w2^T for x (..., 2) -> (..., heads), a block of rows at a time."""
    x2 = x.reshape(-1, x.shape[-1])
    out = x2.new_empty(x2.shape[0], w2.shape[0])
    for s, e, hid in _HiddenBlocks(x2, w1, b1, sep):
        torch.mm(hid, w2.t(), out=out[s:e])
    return out.view(*x.shape[:-1], w2.shape[0])


def _mlp_rows_backward(x: Tensor, grad_out: Tensor, w1, b1, w2, need_input_grad: bool,
                       acc_w1b: Tensor, acc_w2: Tensor, sep=None):
    """Accumulate the weight grads of y = relu(x w1^T + b1) w2^T given dy, recomputing the hidden
    layer a block of rows at a time: acc_w1b (3, hidden) += [dw1 | db1]^T, acc_w2 += dw2
    ((3, hidden) rather than (hidden, 3): MKL's skinny-output matmul is ~10x slower).

    x (..., 2), grad_out (..., heads); ``sep`` as in :class:`_HiddenBlocks`. Returns dx (..., 2) or None.
    """
    x2 = x.reshape(-1, x.shape[-1])
    g2 = grad_out.reshape(-1, grad_out.shape[-1])
    x1 = torch.cat([x2, x2.new_ones(x2.shape[0], 1)], 1)  # ones column: db1 in the same matmul
    dx = x2.new_empty(x2.shape) if need_input_grad else None
    for s, e, hid in _HiddenBlocks(x2, w1, b1, sep):
        gs = g2[s:e]
        acc_w2.addmm_(gs.t(), hid)
        dhid = torch.ops.aten.threshold_backward(gs @ w2, hid, 0)
        acc_w1b.addmm_(x1[s:e].t(), dhid)
        if dx is not None:
            torch.mm(dhid, w1, out=dx[s:e])
    return None if dx is None else dx.view(x.shape)


def _axis_seps(boxes: Tensor, feat_size, stride, mode, wx1, bx1, wy1, by1):
    """(sep_x, sep_y) for :class:`_HiddenBlocks` in 'linear' mode (None, None for 'log')."""
    if mode != 'linear':
        return None, None
    px, py = pixel_centres(feat_size, stride, boxes)
    flat = boxes.reshape(-1, 4)
    return (_separable_preacts(flat[:, 0::2], px, wx1, bx1),
            _separable_preacts(flat[:, 1::2], py, wy1, by1))


def _chunk_logits(qc: Tensor, kt: Tensor, bx: Optional[Tensor], by: Optional[Tensor],
                  pad: Optional[Tensor], H: int, W: int) -> Tensor:
    """Logits of one query chunk: qc kt + By[..., i] + Bx[..., j] + pad, (B, nh, c, H*W).

    qc (B, nh, c, dh), kt (B, nh, dh, H*W), bx (B, nh, c, W), by (B, nh, c, H) or None,
    pad (B, 1, 1, H*W) or None. The bias is written once and the matrix product accumulates onto
    it (baddbmm, beta = 1): one pass over the chunk instead of the product's write plus two
    in-place adds.
    """
    B, nh, c, dh = qc.shape
    if bx is None:
        logits = qc @ kt
    else:
        logits = torch.add(by[..., None], bx[..., None, :]).view(B, nh, c, H * W)
        logits.view(B * nh, c, H * W).baddbmm_(qc.reshape(B * nh, c, dh), kt.reshape(B * nh, dh, H * W))
    if pad is not None:
        logits.add_(pad)
    return logits


class _LeanBoxRPBAttention(torch.autograd.Function):
    """Chunked BoxRPB attention with recomputation (see :func:`box_rpb_attention`)."""

    @staticmethod
    def forward(ctx, q, k, v, boxes, wx1, bx1, wx2, wy1, by1, wy2, pad, feat_size, stride, mode, chunk,
                keep_probs):
        B, nh, nq, _ = q.shape
        H, W = feat_size
        out = torch.empty_like(q)
        kt = k.transpose(-1, -2)
        has_rpb = boxes is not None
        # the axial terms are small (nQ * (H + W) per head): keep them, so backward needs only
        # the MLPs' hidden layer (for their weight gradients), not their second matmul
        bx_all = q.new_empty(B, nh, nq, W) if has_rpb else None
        by_all = q.new_empty(B, nh, nq, H) if has_rpb else None
        kept = []  # per-chunk probabilities when keep_probs (the attention map, as plain attention keeps)
        for s in range(0, nq, chunk):
            e = min(s + chunk, nq)
            if has_rpb:
                dx, dy = box_pixel_offsets(boxes[:, s:e], feat_size, stride, mode)
                sx, sy = _axis_seps(boxes[:, s:e], feat_size, stride, mode, wx1, bx1, wy1, by1)
                bx_all[:, :, s:e] = _mlp_rows(dx, wx1, bx1, wx2, sx).permute(0, 3, 1, 2)  # (B, nh, c, W)
                by_all[:, :, s:e] = _mlp_rows(dy, wy1, by1, wy2, sy).permute(0, 3, 1, 2)  # (B, nh, c, H)
                del dx, dy
            logits = _chunk_logits(q[:, :, s:e], kt, bx_all[:, :, s:e] if has_rpb else None,
                                   by_all[:, :, s:e] if has_rpb else None, pad, H, W)
            probs = torch.softmax(logits, -1)
            del logits
            out[:, :, s:e] = probs @ v
            if keep_probs:
                kept.append(probs)
            del probs
        # the kept probabilities go through save_for_backward too, so saved-tensor hooks
        # (activation offloading, memory accounting) see them
        ctx.save_for_backward(q, k, v, boxes, wx1, bx1, wx2, wy1, by1, wy2, pad, out, bx_all, by_all, *kept)
        ctx.cfg = (feat_size, stride, mode, chunk)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, boxes, wx1, bx1, wx2, wy1, by1, wy2, pad, out, bx_all, by_all, *kept = ctx.saved_tensors
        feat_size, stride, mode, chunk = ctx.cfg
        B, nh, nq, _ = q.shape
        H, W = feat_size
        has_rpb = boxes is not None
        need = ctx.needs_input_grad
        grad_out = grad_out.contiguous()
        dq = torch.empty_like(q)
        dk = torch.zeros_like(k)
        dv = torch.zeros_like(v)
        if has_rpb:  # [dw1 | db1] of x, dw2 of x, the same for y
            dws = [wx1.new_zeros(3, wx1.shape[0]), torch.zeros_like(wx2),
                   wy1.new_zeros(3, wy1.shape[0]), torch.zeros_like(wy2)]
        dboxes = torch.zeros_like(boxes) if has_rpb and need[3] else None
        delta = (grad_out * out).sum(-1)  # (B, nh, nQ)
        kt, vt = k.transpose(-1, -2), v.transpose(-1, -2)
        for index, s in enumerate(range(0, nq, chunk)):
            e = min(s + chunk, nq)
            qc, goc = q[:, :, s:e], grad_out[:, :, s:e]
            if has_rpb:
                rdx, rdy = box_pixel_offsets(boxes[:, s:e], feat_size, stride, 'linear')
                dx, dy = (log_transform(rdx), log_transform(rdy)) if mode == 'log' else (rdx, rdy)
            if kept:
                probs = kept[index]
            else:  # recomputed P (fused softmax: faster than exp(S - lse))
                probs = torch.softmax(_chunk_logits(qc, kt, bx_all[:, :, s:e] if has_rpb else None,
                                                    by_all[:, :, s:e] if has_rpb else None, pad, H, W), -1)
            dv.add_(probs.transpose(-1, -2) @ goc)
            dlogits = (goc @ vt).sub_(delta[:, :, s:e, None]).mul_(probs)  # dS = P (dP - delta)
            del probs
            dq[:, :, s:e] = dlogits @ k
            dk.add_(dlogits.transpose(-1, -2) @ qc)
            if has_rpb:
                d2 = dlogits.view(B, nh, e - s, H, W)
                dbx = d2.sum(-2).permute(0, 2, 3, 1)  # (B, c, W, nh)
                dby = d2.sum(-1).permute(0, 2, 3, 1)  # (B, c, H, nh)
                del d2, dlogits
                sx, sy = _axis_seps(boxes[:, s:e], feat_size, stride, mode, wx1, bx1, wy1, by1)
                ddx = _mlp_rows_backward(dx, dbx, wx1, bx1, wx2, dboxes is not None, dws[0], dws[1], sx)
                ddy = _mlp_rows_backward(dy, dby, wy1, by1, wy2, dboxes is not None, dws[2], dws[3], sy)
                if dboxes is not None:
                    # ddx (B, c, W, 2), ddy (B, c, H, 2): d offset / d corner = 1 (linear)
                    if mode == 'log':
                        ddx = ddx * _log_transform_grad(rdx)
                        ddy = ddy * _log_transform_grad(rdy)
                    dboxes[:, s:e, 0::2] += ddx.sum(2)
                    dboxes[:, s:e, 1::2] += ddy.sum(2)
            else:
                del dlogits
        if has_rpb:
            wgrads = [dws[0][:2].t(), dws[0][2], dws[1], dws[2][:2].t(), dws[2][2], dws[3]]
        else:
            wgrads = [None] * 6
        return (dq, dk, dv, dboxes, *wgrads, None, None, None, None, None, None)


def box_rpb_attention(q: Tensor, k: Tensor, v: Tensor, boxes_xyxy: Optional[Tensor],
                      feat_size: Sequence[int], stride: float, mlp_x=None, mlp_y=None,
                      mode: str = 'linear', key_padding_mask: Optional[Tensor] = None,
                      chunk_elems: int = DEFAULT_CHUNK_ELEMS, keep_probs: bool = True) -> Tensor:
    """Memory-lean BoxRPB attention: same values and gradients as :func:`box_rpb_attention_naive`.

    The queries are processed in chunks of ``c`` rows with B * heads * c * H*W <= ``chunk_elems``.
    Forward keeps q, k, v, the output, the axial terms Bx / By (nQ * (H + W) per head) and, with
    ``keep_probs``, the attention probabilities (what plain attention keeps); the full bias
    (B, heads, nQ, H*W), the logits and the MLPs' hidden activations (nQ * (H + W) * hidden) exist
    for one chunk at a time. Backward recomputes per chunk what was not kept (the MLPs' hidden
    layer for their weight gradients; without ``keep_probs`` also the logits and probabilities,
    like flash attention: the least memory, 1.1-1.5x the time in benchmarks/boxrpb.py on CPU) and accumulates the
    gradients of q, k, v, of the two MLPs (through dBx = sum_i dS, dBy = sum_j dS) and, when
    ``boxes_xyxy`` requires grad, of the boxes. Same arguments as the naive version
    (padded keys always get -inf).
    """
    B, nh, nq, _ = q.shape
    N = k.shape[-2]
    if N != feat_size[0] * feat_size[1]:
        raise ValueError(f'BoxRPB attention: {N} keys but the feature map is {tuple(feat_size)}')
    chunk = max(1, min(nq, chunk_elems // max(1, B * nh * N)))
    pad = padding_bias(key_padding_mask, q.dtype)
    if boxes_xyxy is None or mlp_x is None:
        boxes_xyxy, wts = None, [None] * 6
    else:
        px = mlp_params(mlp_x) if isinstance(mlp_x, nn.Module) else tuple(mlp_x)
        py = mlp_params(mlp_y) if isinstance(mlp_y, nn.Module) else tuple(mlp_y)
        wts = [*px, *py]
        if px[2].shape[0] != nh:
            raise ValueError(f'BoxRPB attention: the MLPs output {px[2].shape[0]} heads, q has {nh}')
    return _LeanBoxRPBAttention.apply(q.contiguous(), k.contiguous(), v.contiguous(), boxes_xyxy, *wts,
                                      pad, tuple(feat_size), float(stride), mode, chunk, keep_probs)


class BoxRPBCrossAttention(nn.Module):
    """Global multi-head cross-attention whose logits get the BoxRPB bias (pure PyTorch).

    Queries attend to every pixel of one key map (no sampling, no locality window).

    Args:
        embed_dims: d. num_heads: heads (d_head = d / heads).
        rpb_mode: 'linear', 'log', or None for plain global cross-attention (no bias).
        rpb_hidden: hidden width of the two BoxRPB MLPs (512 in the paper).
        impl: 'lean' (:func:`box_rpb_attention`) or 'naive' (:func:`box_rpb_attention_naive`).
        pad_value: naive path only: None = -inf (ours), -100. = the reference's soft mask.
        chunk_elems: lean path chunk size (elements of one chunk's logits).
        keep_probs: lean path: keep the attention map for backward (default) instead of
            recomputing it (one q k^T product and a softmax per chunk; saves one attention map).
    """

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, rpb_mode: Optional[str] = 'linear',
                 rpb_hidden: int = 512, impl: str = 'lean', pad_value: Optional[float] = None,
                 chunk_elems: int = DEFAULT_CHUNK_ELEMS, keep_probs: bool = True):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by num_heads {num_heads}')
        if rpb_mode not in (None, 'linear', 'log'):
            raise ValueError(f"rpb_mode must be 'linear', 'log' or None, got {rpb_mode!r}")
        if impl not in ('lean', 'naive'):
            raise ValueError(f"impl must be 'lean' or 'naive', got {impl!r}")
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.rpb_mode, self.impl, self.pad_value, self.chunk_elems = rpb_mode, impl, pad_value, chunk_elems
        self.keep_probs = keep_probs
        self.q_proj = nn.Linear(embed_dims, embed_dims)
        self.k_proj = nn.Linear(embed_dims, embed_dims)
        self.v_proj = nn.Linear(embed_dims, embed_dims)
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        if rpb_mode is not None:
            self.rpb_mlp_x = make_rpb_mlp(rpb_hidden, num_heads)
            self.rpb_mlp_y = make_rpb_mlp(rpb_hidden, num_heads)
        self.init_weights()

    def init_weights(self) -> None:
        """Truncated normal std 0.02, zero bias, for every Linear (the reference's decoder init)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _heads(self, x: Tensor) -> Tensor:
        B, n, _ = x.shape
        return x.view(B, n, self.num_heads, -1).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, ref_boxes: Optional[Tensor],
                feat_size: Sequence[int], stride: float, valid_ratios: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None, box_format: str = 'cxcywh',
                img_shape: Optional[Sequence[int]] = None) -> Tensor:
        """
        Args:
            query: (B, nQ, d) queries (positional embedding already added).
            key: (B, H*W, d) keys (memory + its positional embedding); value: (B, H*W, d).
            ref_boxes: (B, nQ, 4) reference boxes (see :func:`ref_boxes_to_pixels`), detached by
                the caller; ignored when ``rpb_mode`` is None.
            feat_size: (H, W); stride: pixels per cell; valid_ratios: (B, 2) (w, h) or None.
            key_padding_mask: (B, H*W) bool, True = padded pixel.
            img_shape: padded input (h, w), to check the stride.

        Returns:
            (B, nQ, d), before the residual connection.
        """
        B, nq, _ = query.shape
        H, W = feat_size
        if key.shape[1] != H * W:
            raise ValueError(f'BoxRPB attention: key has {key.shape[1]} tokens, feature map {H}x{W}')
        q = self._heads(self.q_proj(query)) * (self.embed_dims // self.num_heads) ** -0.5
        k, v = self._heads(self.k_proj(key)), self._heads(self.v_proj(value))
        boxes = None
        if self.rpb_mode is not None:
            boxes = ref_boxes_to_pixels(ref_boxes, feat_size, stride, valid_ratios, box_format, img_shape)
        else:
            check_feature_stride(feat_size, stride, img_shape)
        mlps = (self.rpb_mlp_x, self.rpb_mlp_y) if self.rpb_mode is not None else (None, None)
        if self.rpb_mode is None and self.impl == 'lean':
            # plain global cross-attention: PyTorch's fused kernel (True = attend)
            mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
        elif self.impl == 'lean':
            out = box_rpb_attention(q, k, v, boxes, feat_size, stride, *mlps, self.rpb_mode or 'linear',
                                    key_padding_mask, self.chunk_elems, self.keep_probs)
        else:
            out = box_rpb_attention_naive(q, k, v, boxes, feat_size, stride, *mlps, self.rpb_mode or 'linear',
                                          key_padding_mask, self.pad_value)
        return self.out_proj(out.transpose(1, 2).reshape(B, nq, self.embed_dims))
