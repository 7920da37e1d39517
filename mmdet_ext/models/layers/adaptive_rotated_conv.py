"""Adaptive rotated convolution (ARC, ICCV 2023): a 3x3 conv whose kernels turn per image.

A routing function looks at the input and predicts, per image, n gates ``lam`` and n angles
``theta``; the conv then uses ``W_b = sum_i lam[b, i] M(theta[b, i]) W_i`` for image b, where
``W_1 .. W_n`` is a bank of ordinary 3x3 kernels and ``M`` the kernel-rotation matrix of
:mod:`.arc_rotation`. See ``shared/specs/arc.md``.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

from .arc_rotation import check_kernel_size, combine_rotated_kernels

__all__ = ['ARCRouting', 'AdaptiveRotatedConv2d']

_IMPLS = ('auto', 'grouped', 'per_image')


class ARCRouting(nn.Module):
    """ARC's routing function: one set of gates and angles per image.

    depthwise 3x3 conv -> LayerNorm over channels -> ReLU -> global average pool -> v, then two
    heads, each after its own Dropout: ``lam = sigmoid(Linear(v))`` (n independent gates, not a
    softmax) and ``theta = softsign(Linear_no_bias(v)) * theta_max``.

    Args:
        in_channels: C, channels of the conv input.
        num_kernels: n.
        theta_max: bound of |theta| in degrees (40 in the paper).
        dropout: drop probability before each head.
    """

    def __init__(self, in_channels: int, num_kernels: int = 4, theta_max: float = 40.0,
                 dropout: float = 0.2):
        super().__init__()
        self.num_kernels = num_kernels
        self.theta_max = theta_max
        self.dwconv = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels,
                                bias=False)
        self.norm = nn.LayerNorm(in_channels)
        self.drop_lambda = nn.Dropout(dropout)
        self.fc_lambda = nn.Linear(in_channels, num_kernels)
        self.drop_theta = nn.Dropout(dropout)
        # No bias: zeroing this head's weight gives theta = 0 exactly.
        self.fc_theta = nn.Linear(in_channels, num_kernels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Truncated normal (std 0.02, cut at 2 std) for the depthwise conv and both heads,
        gate bias 0, LayerNorm (1, 0)."""
        for weight in (self.dwconv.weight, self.fc_lambda.weight, self.fc_theta.weight):
            # torch's default cut-off is +-2 in absolute terms (100 std here): cut at 2 std.
            nn.init.trunc_normal_(weight, std=0.02, a=-0.04, b=0.04)
        nn.init.zeros_(self.fc_lambda.bias)
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """x (B, C, H, W) -> (lam (B, n) in (0, 1), theta (B, n) in radians), both float32."""
        y = self.dwconv(x)
        # LayerNorm over channels at every pixel: move channels last for F.layer_norm.
        y = F.layer_norm(y.permute(0, 2, 3, 1), self.norm.normalized_shape, self.norm.weight,
                         self.norm.bias, self.norm.eps)
        v = F.relu(y).mean(dim=(1, 2))                                    # (B, C)
        # Gates and angles in fp32 even under autocast: small angle errors rotate every kernel.
        with torch.autocast(device_type=x.device.type, enabled=False):
            v = v.float()
            lam = torch.sigmoid(self.fc_lambda(self.drop_lambda(v)))
            theta = F.softsign(self.fc_theta(self.drop_theta(v))) * math.radians(self.theta_max)
        return lam, theta


class AdaptiveRotatedConv2d(nn.Module):
    """A 3x3 convolution with n kernels rotated and gated per image (ARC).

    For image b: ``out_b = conv(x_b, sum_i lam[b, i] M(theta[b, i]) W_i)`` with the stride,
    padding, dilation and groups of an ordinary conv. By linearity this equals
    ``sum_i lam[b, i] conv(x_b, M(theta[b, i]) W_i)``.

    Two execution paths give the same result (tested):

    * ``'grouped'`` (the reference): the batch is folded into the channels, (1, B C_in, H, W),
      and one conv with ``groups = groups * B`` runs with the stacked per-image kernels;
    * ``'per_image'``: one ordinary conv per image with its kernel. For batch 1 this is a plain
      conv (no folding); for larger batches it avoids oneDNN's grouped-conv kernels (measured
      0-30% faster per conv in CPU inference; over a whole ARC-ResNet-50 equal within noise).

    ``impl='auto'`` (default) uses 'grouped' while autograd records (training: its backward was
    as fast or faster) and 'per_image' for batch 1 or CPU inference; see ``benchmarks/arc.py``.
    Both paths share the fused kernel synthesis of :func:`combine_rotated_kernels`.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as
            ``nn.Conv2d``; ``kernel_size`` must be 3 (or (3, 3)).
        num_kernels: n, kernels in the bank (4 in the paper).
        theta_max: bound of the predicted angles in degrees (40).
        dropout: routing dropout before each head (0.2).
        impl: 'auto', 'grouped' or 'per_image'.

    Shapes: ``weight`` is the bank (n, C_out, C_in / groups, 3, 3) (laid out tap-major in
    memory, see ``__init__``; any layout gives the same results); input (B, C_in, H, W);
    output (B, C_out, H', W') as for ``nn.Conv2d``.

    Loading a state dict that holds an ordinary conv weight (C_out, C_in / groups, 3, 3) under
    ``weight`` copies it into all n kernels of the bank (see ``_load_from_state_dict``); the
    routing parameters then stay as initialised and are reported missing.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=1,
                 dilation=1, groups: int = 1, bias: bool = False, num_kernels: int = 4,
                 theta_max: float = 40.0, dropout: float = 0.2, impl: str = 'auto'):
        super().__init__()
        self.kernel_size = check_kernel_size(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'in_channels={in_channels} and out_channels={out_channels} must '
                             f'both be divisible by groups={groups}')
        if num_kernels < 1:
            raise ValueError(f'num_kernels must be >= 1, got {num_kernels}')
        if impl not in _IMPLS:
            raise ValueError(f'impl must be one of {_IMPLS}, got {impl!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.num_kernels = num_kernels
        self.impl = impl
        # Shape (n, C_out, C_in / groups, 3, 3), stored tap-major, (n, 3, 3, C_out, C_in / groups)
        # in memory: kernel synthesis reads the bank as an (n * 9, C_out * C_in / groups) matrix,
        # which is then a view instead of a transposed copy of the whole bank every forward.
        self.weight = nn.Parameter(
            torch.empty(num_kernels, *self.kernel_size, out_channels, in_channels // groups)
            .permute(0, 3, 4, 1, 2))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.routing = ARCRouting(in_channels, num_kernels, theta_max, dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each bank kernel like a ResNet conv (Kaiming normal, fan_out, ReLU); routing as ARC."""
        with torch.no_grad():
            for kernel in self.weight:
                nn.init.kaiming_normal_(kernel, mode='fan_out', nonlinearity='relu')
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self.routing.reset_parameters()

    def init_weights(self) -> None:
        """Called by MMEngine's ``BaseModule.init_weights`` after the parent's own init_cfg
        (so a parent's ``Kaiming`` on ``Conv2d`` does not overwrite the routing's init)."""
        self.reset_parameters()

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, padding={self.padding}, dilation={self.dilation}, '
                f'groups={self.groups}, bias={self.bias is not None}, '
                f'num_kernels={self.num_kernels}, impl={self.impl!r}')

    def kernels(self, lam: Tensor, theta: Tensor, dtype: Optional[torch.dtype] = None) -> Tensor:
        """Per-image kernels (B, C_out, C_in / groups, 3, 3) for gates / angles (B, n).

        Synthesised in float32 (autocast off), then cast to ``dtype``.
        """
        with torch.autocast(device_type=self.weight.device.type, enabled=False):
            kernels = combine_rotated_kernels(self.weight.float(), lam.float(), theta.float())
        return kernels if dtype is None else kernels.to(dtype)

    def _conv(self, x: Tensor, weight: Tensor, groups: int, bias: Optional[Tensor]) -> Tensor:
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, groups)

    def forward_with(self, x: Tensor, lam: Tensor, theta: Tensor, impl: str = 'grouped') -> Tensor:
        """Convolve x (B, C_in, H, W) with given gates / angles (B, n) by path ``impl``."""
        batch = x.shape[0]
        kernels = self.kernels(lam, theta, x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if impl == 'per_image':
            return torch.cat([self._conv(x[b:b + 1], kernels[b], self.groups, bias)
                              for b in range(batch)])
        if impl != 'grouped':
            raise ValueError(f'impl must be grouped or per_image here, got {impl!r}')
        # Fold the batch into channels: image b only sees its own kernel group.
        folded = x.reshape(1, batch * self.in_channels, *x.shape[2:])
        out = self._conv(folded, kernels.reshape(batch * self.out_channels, *kernels.shape[2:]),
                         self.groups * batch, None if bias is None else bias.repeat(batch))
        return out.view(batch, self.out_channels, *out.shape[2:])

    def _pick_impl(self, x: Tensor) -> str:
        if self.impl != 'auto':
            return self.impl
        inference = not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
        if x.shape[0] == 1 or (inference and x.device.type == 'cpu'):
            return 'per_image'
        return 'grouped'

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C_in, H, W) -> (B, C_out, H', W')."""
        lam, theta = self.routing(x)
        return self.forward_with(x, lam, theta, self._pick_impl(x))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # An ordinary conv checkpoint (e.g. a torchvision / mmcls ResNet) holds a 4-D weight:
        # copy it into every kernel of the bank. Torch's and MMEngine's loaders both go through
        # this method, so init_cfg=Pretrained and load_from inflate alike.
        key = prefix + 'weight'
        value = state_dict.get(key)
        if isinstance(value, Tensor) and tuple(value.shape) == tuple(self.weight.shape[1:]):
            state_dict = dict(state_dict)  # do not mutate the caller's dict
            state_dict[key] = value.unsqueeze(0).expand_as(self.weight).clone()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
