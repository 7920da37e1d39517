"""DCNv1 (deformable convolution, one deformable group, no mask) in plain PyTorch.

Equal to ``mmcv.ops.deform_conv2d`` in values and gradients (tests/models/layers/test_sepc_layers.py)
and 3.2-3.6x faster on CPU than mmcv's kernel (forward, 2 x 256 x 50 x 84, 1 thread, idle, min /
median of 5, sixth session: 83 / 96 ms vs 298 / 302 ms; torchvision's 288 / 293 ms; a plain 3 x 3 conv 41 / 47 ms). im2col with deformed positions, laid out channels-last:

* sampling: every (output position, tap) is a bag of its 4 bilinear corners, gathered from the
  input's rows (N * H * W, C) and summed with the bilinear weights by one ``F.embedding_bag``
  (a fused gather-and-weighted-sum kernel), giving cols (N, Ho, Wo, K * C) without a transpose;
  corners outside the image point at an extra zero row. The bilinear weights are computed here from
  ``floor(p)``, so autograd gives the position gradient of mmcv's cell [floor(p), floor(p) + 1]
  exactly, also at integer positions (zero offsets), and zero for positions outside
  (-1, H) x (-1, W) as mmcv does.
* product: on CPU in float32, a 1 x 1 oneDNN convolution of the channels-last cols. On this
  project's AMD EPYC machines MKL's sgemm (``bmm``) runs at about half oneDNN's rate (measured in
  the fifth session): 2 x 2304 x 4200 -> 256 channels, 1 thread, 92 ms vs 40 ms; ``F.conv2d`` on the same channels-last input
  took 97 ms (it does not pick oneDNN for a single-threaded 1 x 1 conv), hence
  ``torch.mkldnn_convolution``. Elsewhere (GPU, float64) a plain matrix product.

On a GPU, :func:`deform_conv2d_torchvision` (torchvision's CUDA kernel with mmcv's gradient rule)
is the faster one: H200, 2 x 256 x 50 x 84, forward 0.40-0.47 ms vs ours 1.77-2.63 ms
(``benchmarks/sepc_gpu.py``, default float32 math, 12 runs, sixth session); on CPU torchvision's kernel is as slow
as mmcv's (above).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


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
    cols = bilinear_sample_channels_last(x, py, px).view(n, ho, wo, k * c)  # tap-major, then channel
    weight_kc = weight.permute(0, 2, 3, 1).reshape(o, k * c)  # the same (tap, channel) order
    if x.device.type == 'cpu' and x.dtype == torch.float32 and torch.backends.mkldnn.is_available():
        out = _OneDNNPointwise.apply(cols, weight_kc)
    else:
        out = (cols.view(n, ho * wo, k * c) @ weight_kc.t()).view(n, ho, wo, o).permute(0, 3, 1, 2)
    return out.contiguous()


def deform_conv2d_torchvision(x: Tensor, offset: Tensor, weight: Tensor, stride: int = 1,
                              padding: int = 1, dilation: int = 1) -> Tensor:
    """``torchvision.ops.deform_conv2d`` with mmcv's offset gradient: same arguments and layout as
    :func:`deform_conv2d_torch`, equal to mmcv in values and gradients.

    Why the cut: torchvision's values and input / weight gradients equal mmcv's, and so do its
    offset gradients except for a tap whose position is exactly -1 on an axis (the padding ring at
    zero offsets, i.e. at initialisation): mmcv treats it as outside (zero gradient), torchvision
    passes a one-sided gradient. So the offsets of taps outside (-1, H) x (-1, W) are detached.
    """
    from torchvision.ops import deform_conv2d
    if offset.requires_grad:  # inference skips the cut (on an H200 it doubled the forward time)
        _, _, h, w = x.shape
        kh, kw = weight.shape[-2:]
        with torch.no_grad():
            py, px = sampling_positions(offset, (h, w), (kh, kw), stride, padding, dilation)
            outside = ((py <= -1) | (py >= h) | (px <= -1) | (px >= w)).repeat_interleave(2, dim=1)
        offset = torch.where(outside, offset.detach(), offset)
    return deform_conv2d(x, offset, weight, stride=stride, padding=padding, dilation=dilation)


class _OneDNNPointwise(torch.autograd.Function):
    """cols (N, Ho, Wo, D) x weight (O, D) -> (N, O, Ho, Wo) (channels-last strides), the product and
    the input gradient as 1 x 1 oneDNN convolutions. Its own backward because autograd's for
    ``mkldnn_convolution`` goes through ``_slow_conv2d_backward`` (profiled in the fifth session):
    256 ms a call at 2 x 2304 x 4200 -> 256, 1 thread, against 52 ms on average for this class's oneDNN products (forward and
    input gradient) and 91 ms for the weight gradient's matrix product."""

    @staticmethod
    def forward(ctx, cols, weight):
        ctx.save_for_backward(cols, weight)
        return torch.mkldnn_convolution(cols.permute(0, 3, 1, 2), weight[:, :, None, None], None,
                                        [0, 0], [1, 1], [1, 1], 1)

    @staticmethod
    def backward(ctx, grad_out):
        cols, weight = ctx.saved_tensors
        grad_out = grad_out.contiguous(memory_format=torch.channels_last)  # (N, O, Ho, Wo)
        d_cols = d_weight = None
        if ctx.needs_input_grad[0]:
            d_cols = torch.mkldnn_convolution(grad_out, weight.t().contiguous()[:, :, None, None], None,
                                              [0, 0], [1, 1], [1, 1], 1).permute(0, 2, 3, 1)
        if ctx.needs_input_grad[1]:
            o, d = weight.shape
            d_weight = grad_out.permute(0, 2, 3, 1).reshape(-1, o).t() @ cols.reshape(-1, d)
        return d_cols, d_weight


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


def bilinear_sample_channels_last(x: Tensor, py: Tensor, px: Tensor) -> Tensor:
    """Sample ``x`` (N, C, H, W) at positions (N, K, Ho, Wo) with mmcv's rules (zero outside
    (-1, H) x (-1, W), out-of-image corners count as zero) -> (N, Ho, Wo, K, C)."""
    n, c, h, w = x.shape
    _, k, ho, wo = py.shape
    py, px = py.permute(0, 2, 3, 1), px.permute(0, 2, 3, 1)  # (N, Ho, Wo, K): the output's order
    y0, x0 = py.detach().floor(), px.detach().floor()
    frac_y, frac_x = py - y0, px - x0
    y0, x0 = y0.long(), x0.long()
    inside = (py > -1) & (py < h) & (px > -1) & (px < w)
    zero_row = n * h * w
    image_start = torch.arange(n, device=x.device).view(n, 1, 1, 1) * (h * w)
    rows, weights = [], []
    for dy, weight_y in ((0, 1 - frac_y), (1, frac_y)):
        for dx, weight_x in ((0, 1 - frac_x), (1, frac_x)):
            yy, xx = y0 + dy, x0 + dx
            valid = inside & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            rows.append(torch.where(valid, image_start + yy * w + xx, zero_row))
            weights.append(torch.where(valid, weight_y * weight_x, 0.0))
    table = torch.cat([x.permute(0, 2, 3, 1).reshape(n * h * w, c), x.new_zeros(1, c)])
    out = F.embedding_bag(torch.stack(rows, -1).view(-1, 4), table,
                          per_sample_weights=torch.stack(weights, -1).view(-1, 4), mode='sum')
    return out.view(n, ho, wo, k, c)
