"""DCNv1 (deformable convolution, one deformable group, no mask) in plain PyTorch.

Equal to ``mmcv.ops.deform_conv2d`` in values and gradients (tests/models/layers/test_sepc_layers.py)
and about 2x faster on CPU than mmcv's kernel: bilinear sampling of all kernel taps with one
``grid_sample`` call (a fused, vectorised kernel) followed by one matrix product, i.e. im2col
with deformed positions. Runs on any device that has ``grid_sample`` (no compiled extension).

Exactness notes (why the code looks the way it does):
* mmcv takes a sample as zero when its position is outside (-1, H) x (-1, W), including its
  gradient; positions exactly at -1 (the border tap of a padding-1 conv with zero offsets) must
  therefore get a zero gradient, which ``grid_sample`` alone would not give: such positions are
  moved far outside (detached) before sampling.
* the gradient w.r.t. a position uses the bilinear cell [floor(p), floor(p) + 1]. ``grid_sample``
  un-normalises its grid in floating point (``(g + 1) * (S - 1) / 2``), which for integer positions
  (zero offsets: every position at initialisation) can land just below the integer and pick the
  neighbouring cell, i.e. the other one-sided derivative. The backward pass therefore uses a
  grid whose integer positions are nudged by a few ulps into their own cell (``_normalise``,
  ``_GridSampleCellStable``) while the values come from the exact positions. (Zero-padding the
  input to a size with an exact round trip was measured 1.7x slower; emulating the kernel's
  arithmetic was not reliable.)
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def _normalise(pos: Tensor, size: int, shift_integers: bool) -> Tensor:
    """Grid coordinate for ``grid_sample(align_corners=True)``. With ``shift_integers`` (the grid
    used for gradients only) integer positions move by ``size * 2**-20`` pixels (float32;
    ``2**-49`` for float64), about 8 ulps of the largest position, above grid_sample's round-off,
    so the un-normalised value keeps ``floor(pos)``. Non-integer positions never move (a shift
    would push those just below an integer into the next cell)."""
    if shift_integers:
        shift = size * (2.0 ** -20 if pos.dtype != torch.float64 else 2.0 ** -49)
        pos = torch.where(pos == pos.floor(), pos + shift, pos)
    return pos * (2.0 / (size - 1)) - 1


class _GridSampleCellStable(torch.autograd.Function):
    """Bilinear ``grid_sample`` (zeros padding, align_corners=True): values from ``grid``,
    gradients from ``grad_grid`` (the same positions with integers nudged into their own cell)."""

    @staticmethod
    def forward(ctx, x, grid, grad_grid):
        ctx.save_for_backward(x, grad_grid)
        return torch.grid_sampler(x, grid, 0, 0, True)

    @staticmethod
    def backward(ctx, grad_out):
        x, grad_grid = ctx.saved_tensors
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1]]
        d_x, d_grid = torch.ops.aten.grid_sampler_2d_backward(grad_out, x, grad_grid, 0, 0, True, mask)
        return (d_x if mask[0] else None), (d_grid if mask[1] else None), None


def deform_conv2d_torch(x: Tensor, offset: Tensor, weight: Tensor, stride: int = 1, padding: int = 1,
                        dilation: int = 1) -> Tensor:
    """Deformable convolution (DCNv1), mmcv's offset layout, no bias.

    Args:
        x: input (N, C, H, W).
        offset: (N, 2 * kh * kw, Ho, Wo); channel 2k is the row (y) offset and 2k + 1 the column
            (x) offset of kernel tap k = i * kw + j (row-major), as in mmcv.
        weight: (O, C, kh, kw).
        stride, padding, dilation: as for ``F.conv2d`` (same on both axes).

    Returns:
        (N, O, Ho, Wo).
    """
    n, c, h, w = x.shape
    o, c_w, kh, kw = weight.shape
    if c_w != c:
        raise ValueError(f'deform_conv2d_torch: weight expects {c_w} input channels, input has {c} '
                         f'(input shape {tuple(x.shape)})')
    k = kh * kw
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    if offset.shape != (n, 2 * k, ho, wo):
        raise ValueError(f'deform_conv2d_torch: expected offset of shape {(n, 2 * k, ho, wo)}, '
                         f'received {tuple(offset.shape)}')
    py, px = sampling_positions(offset, (h, w), (kh, kw), stride, padding, dilation)  # (N, K, Ho, Wo)
    cols = bilinear_sample(x, py, px)  # (N, C, K, Ho, Wo)
    # im2col order: channel, then tap. bmm on the expanded weight, not ``weight @ cols``: matmul of
    # a grad-requiring 2-D weight with a 3-D tensor folds the batch by transposing ``cols`` into a
    # copy (and the product back), measured 2.2x slower than this at (2, 2304, 1024), 1 thread.
    out = torch.bmm(weight.reshape(o, c * k).expand(n, o, c * k), cols.reshape(n, c * k, ho * wo))
    return out.view(n, o, ho, wo)


def sampling_positions(offset: Tensor, in_size: Tuple[int, int], kernel: Tuple[int, int], stride: int,
                       padding: int, dilation: int) -> Tuple[Tensor, Tensor]:
    """Absolute (row, column) sampling positions (N, K, Ho, Wo) of every kernel tap."""
    n, _, ho, wo = offset.shape
    kh, kw = kernel
    off = offset.view(n, kh * kw, 2, ho, wo)
    kwargs = dict(device=offset.device, dtype=offset.dtype)
    rows = torch.arange(ho, **kwargs) * stride - padding
    cols = torch.arange(wo, **kwargs) * stride - padding
    tap_y = torch.arange(kh, **kwargs).repeat_interleave(kw) * dilation
    tap_x = torch.arange(kw, **kwargs).repeat(kh) * dilation
    base_y = tap_y.view(-1, 1, 1) + rows.view(1, -1, 1)  # (K, Ho, 1)
    base_x = tap_x.view(-1, 1, 1) + cols.view(1, 1, -1)  # (K, 1, Wo)
    return base_y + off[:, :, 0], base_x + off[:, :, 1]


def bilinear_sample(x: Tensor, py: Tensor, px: Tensor) -> Tensor:
    """Sample ``x`` (N, C, H, W) at positions (N, K, Ho, Wo) -> (N, C, K, Ho, Wo), mmcv's rules."""
    n, c, h, w = x.shape
    _, k, ho, wo = py.shape
    inside = (py > -1) & (py < h) & (px > -1) & (px < w)
    if h == 1 or w == 1:  # (size - 1) / 2 == 0 cannot be normalised: one zero row / column more
        x = F.pad(x, (0, int(w == 1), 0, int(h == 1)))
    far = -4.0  # normalised coordinate well outside [-1, 1]: zero value, zero gradient

    def grid(nudge: bool) -> Tensor:
        gx = torch.where(inside, _normalise(px, x.shape[3], nudge), far)
        gy = torch.where(inside, _normalise(py, x.shape[2], nudge), far)
        return torch.stack((gx, gy), dim=-1).view(n, k * ho, wo, 2)

    if torch.is_grad_enabled() and (x.requires_grad or py.requires_grad or px.requires_grad):
        cols = _GridSampleCellStable.apply(x, grid(False), grid(True).detach())
    else:
        cols = F.grid_sample(x, grid(False), mode='bilinear', padding_mode='zeros', align_corners=True)
    return cols.view(n, c, k, ho, wo)
