"""Pyramid convolution (PConv) and SEPC's level-shared, optionally deformable 3x3 kernel."""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn

from .integrated_bn import IntegratedBN
from .sepc_deform_conv import deform_conv2d_torch, deform_conv2d_torchvision

DCN_IMPLS = ('auto', 'torch', 'torchvision', 'mmcv')


class SharedLevelConv(nn.Module):
    """A 3x3 kernel shared by all pyramid levels; at levels where ``deform`` is asked it is applied
    as a DCNv1 with offsets from its own offset conv (18 channels, same stride / padding,
    zero-initialised, so it starts as the plain conv). Weights N(0, 0.01), bias 0.

    Args:
        in_channels, out_channels, stride, padding: of the 3x3 conv.
        deformable: build the offset conv (the deformable path exists).
        dcn_impl: ``'torch'`` (ours, equal to mmcv's; the fastest on CPU), ``'torchvision'``
            (torchvision's kernel with mmcv's gradient rule; the fastest on GPU), ``'mmcv'``
            (``mmcv.ops``), or ``'auto'``: torchvision's for CUDA tensors, ours otherwise.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, padding: int = 1,
                 deformable: bool = False, dcn_impl: str = 'auto'):
        super().__init__()
        if dcn_impl not in DCN_IMPLS:
            raise ValueError(f'dcn_impl must be one of {DCN_IMPLS}, received {dcn_impl!r}')
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=padding)
        nn.init.normal_(self.conv.weight, 0, 0.01)
        nn.init.zeros_(self.conv.bias)
        self.deformable = deformable
        self.dcn_impl = dcn_impl
        if deformable:
            self.offset_conv = nn.Conv2d(in_channels, 18, 3, stride=stride, padding=padding)
            nn.init.zeros_(self.offset_conv.weight)
            nn.init.zeros_(self.offset_conv.bias)

    def forward(self, x: Tensor, deform: bool = False) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H', W'); deformable when ``deform`` and built so."""
        return self.conv_with(x, deform, self.conv.weight, self.conv.bias)

    def folded(self, scale: Optional[Tensor] = None, shift: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """(weight, bias) of scale * conv + shift, ``scale`` / ``shift`` (C_out,): an eval-mode BN
        after the conv folded into the kernel, without a pass over the output. Callers applying
        the kernel to several levels fold once per forward: on an H200 at batch 2, folding once per
        level put iBN + PConv at 1.42-1.50x the baseline, once per block at 1.26-1.35x."""
        weight, bias = self.conv.weight, self.conv.bias
        if scale is not None:
            weight, bias = weight * scale.view(-1, 1, 1, 1), bias * scale
        if shift is not None:
            bias = bias + shift
        return weight, bias

    def conv_with(self, x: Tensor, deform: bool, weight: Tensor, bias: Tensor) -> Tensor:
        """The kernel with ``weight`` / ``bias`` (from :meth:`folded`) on ``x``."""
        stride, padding = self.conv.stride[0], self.conv.padding[0]
        if not (deform and self.deformable):
            return F.conv2d(x, weight, bias, stride, padding)
        offset = self.offset_conv(x)
        impl = self.dcn_impl
        if impl == 'auto':
            impl = 'torchvision' if x.is_cuda else 'torch'
        if impl == 'mmcv':
            from mmcv.ops import deform_conv2d
            out = deform_conv2d(x, offset, weight, stride, padding, 1, 1, 1)
        elif impl == 'torchvision':
            out = deform_conv2d_torchvision(x, offset, weight, stride, padding)
        else:
            out = deform_conv2d_torch(x, offset, weight, stride, padding)
        return out.add_(bias.view(1, -1, 1, 1))


LevelNorm = Union[IntegratedBN, nn.GroupNorm]


def build_level_norm(channels: int, ibn: bool = False, ibn_sync: Union[bool, str] = 'auto',
                     gn_groups: Optional[int] = None) -> Optional[LevelNorm]:
    """The normalisation after a level-shared conv: iBN (statistics pooled over all levels, the
    paper's), GroupNorm(``gn_groups``) on each level alone (an ablation, not in the paper), or none."""
    if ibn and gn_groups:
        raise ValueError(f'SEPC / PConvBlock: ibn=True and gn_groups={gn_groups}: choose one normalisation')
    if ibn:
        return IntegratedBN(channels, sync=ibn_sync)
    return nn.GroupNorm(gn_groups, channels) if gn_groups else None


def folded_ibn(norm: Optional[LevelNorm]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """(scale, shift) to fold an eval-mode iBN into the kernels before it (pass them to
    :meth:`SharedLevelConv.folded`); (None, None) for anything else (no norm, iBN in training with
    batch statistics, GroupNorm's per-sample statistics).
    Why fold: at P3 of 800 x 1333 (2 x 256 x 100 x 167) a BN pass with a fresh output measured
    15.8 ms on CPU, an out-of-place ReLU 14.7 ms, an in-place ReLU 1.0 ms (fifth session)."""
    return norm.folded_affine() if isinstance(norm, IntegratedBN) and not norm.training else (None, None)


def norm_relu(norm: Optional[LevelNorm], outs: List[Tensor]) -> List[Tensor]:
    """``norm`` (iBN in training over all levels at once; in eval it was folded by
    :func:`folded_ibn`; GroupNorm level by level), then ReLU of freshly computed levels ``outs``
    (in place when nothing else reads them)."""
    if isinstance(norm, IntegratedBN):
        if norm.training:
            return [F.relu(o) for o in norm(outs)]
    elif norm is not None:
        outs = [norm(o) for o in outs]
    return [F.relu(o, inplace=True) for o in outs]


class PConvBlock(nn.Module):
    """One pyramid convolution: out_l = K_same(x_l) + K_down(x_{l-1}) + Up(K_up(x_{l+1})), then
    a normalisation (optional) and ReLU. K_down has stride 2 (ceil(H / 2), mmdet's pyramid sizes); K_up is
    convolved on the coarser level and then resized bilinearly (align_corners=True).

    Args:
        channels: C of every level.
        deformable: kernels are deformable at output levels >= 1 (P4..P7 for P3..P7; SEPC).
        ibn: integrated BN after the sum; ``ibn_sync`` as :class:`IntegratedBN`'s ``sync``.
        gn_groups: GroupNorm with this many groups after the sum instead, one affine shared by the
            levels, statistics per sample and per level (an ablation of iBN, not in the paper).
            Either one is the block's ``norm`` (:func:`build_level_norm`).
    """

    def __init__(self, channels: int, deformable: bool = False, ibn: bool = False,
                 ibn_sync: Union[bool, str] = 'auto', dcn_impl: str = 'auto', gn_groups: Optional[int] = None):
        super().__init__()
        self.k_same = SharedLevelConv(channels, channels, 1, 1, deformable, dcn_impl)
        self.k_down = SharedLevelConv(channels, channels, 2, 1, deformable, dcn_impl)
        self.k_up = SharedLevelConv(channels, channels, 1, 1, deformable, dcn_impl)
        self.norm = build_level_norm(channels, ibn, ibn_sync, gn_groups)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """List of L levels (N, C, H_l, W_l) -> list of the same shapes."""
        num = len(feats)
        scale, shift = folded_ibn(self.norm)
        same, down_wb, up_wb = self.k_same.folded(scale, shift), self.k_down.folded(scale), self.k_up.folded(scale)
        outs = []
        for lvl, x in enumerate(feats):
            deform = lvl > 0  # the output level decides: P3 regular, P4.. deformable
            out = self.k_same.conv_with(x, deform, *same)  # a fresh tensor: the sums below go in place
            if lvl > 0:
                down = self.k_down.conv_with(feats[lvl - 1], deform, *down_wb)
                if down.shape[-2:] != out.shape[-2:]:
                    raise ValueError(f'PConv: level {lvl - 1} of size {tuple(feats[lvl - 1].shape[-2:])} '
                                     f'halves (stride 2, padding 1) to {tuple(down.shape[-2:])}, but level '
                                     f'{lvl} is {tuple(x.shape[-2:])}: expected every level to be '
                                     'ceil(H / 2) x ceil(W / 2) of the previous one')
                out += down
            if lvl < num - 1:
                up = self.k_up.conv_with(feats[lvl + 1], deform, *up_wb)
                out += F.interpolate(up, size=x.shape[-2:], mode='bilinear', align_corners=True)
            outs.append(out)
        return norm_relu(self.norm, outs)
