"""SEPC neck (Scale-Equalizing Pyramid Convolution, CVPR 2020), placed after an FPN.

Variants (``../../../shared/specs/sepc.md``), selected by flags:

=============  =============  ==============  =====
variant        pconv_deform   extra_deform    ibn
=============  =============  ==============  =====
PConv          False          False           False
iBN + PConv    False          False           True
SEPC-lite      False          True            True
SEPC           True           True            True
=============  =============  ==============  =====
"""
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet_ext.registry import register
from ..layers.pyramid_conv import LevelNorm, PConvBlock, SharedLevelConv, build_level_norm, folded_ibn, norm_relu


@register('MODELS')
class SEPC(BaseModule):
    """Stacked PConv blocks shared by classification and regression, then ``cconv`` / ``lconv``
    (one 3x3 weight set each over all levels, deformable at levels >= 1 with ``extra_deform``),
    each followed by its own iBN (with ``ibn``; or GroupNorm with ``gn_groups``) and ReLU.

    Args:
        in_channels: channels C of every input level (FPN's ``out_channels``).
        num_levels: number of input levels L (5: P3..P7).
        num_blocks: PConv blocks (4 in the paper).
        pconv_deform: PConv kernels deformable at levels >= 1 (full SEPC).
        extra_deform: cconv / lconv deformable at levels >= 1 (SEPC-lite and SEPC).
        ibn: integrated BN after every PConv and after cconv / lconv.
        ibn_sync: statistics over all processes in distributed training (``'auto'``: when a
            process group of size > 1 exists), see :class:`IntegratedBN`.
        plain: return one feature per level (the last PConv's output; no cconv / lconv), for
            two-stage detectors (RPN + RoI heads): levels and strides are the input's.
        legacy_padding: cconv / lconv with padding 0 as in the original code (every level
            shrinks by 2 px per axis, features shift against the anchors; jshilong/SEPC#13).
        gn_groups: GroupNorm (this many groups) per level in place of iBN, everywhere iBN would be
            (with ``ibn=False``): an ablation separating iBN's pooled statistics from the rest.
        dcn_impl: the DCNv1 kernel, see :class:`SharedLevelConv`: ``'auto'`` (torchvision's on GPU,
            our pure-PyTorch one on CPU), ``'torch'``, ``'torchvision'`` or ``'mmcv'``; all equal
            to mmcv's in values and gradients.

    Forward: tuple of L tensors (N, C, H_l, W_l) -> tuple of L (cls_feat, reg_feat) pairs of the
    same shapes (``plain``: tuple of L tensors).
    """

    def __init__(self, in_channels: int = 256, num_levels: int = 5, num_blocks: int = 4,
                 pconv_deform: bool = False, extra_deform: bool = False, ibn: bool = False,
                 ibn_sync: Union[bool, str] = 'auto', plain: bool = False, legacy_padding: bool = False,
                 dcn_impl: str = 'auto', gn_groups: Optional[int] = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_levels < 1 or num_blocks < 0:
            raise ValueError(f'SEPC: num_levels >= 1 and num_blocks >= 0 expected, received {num_levels}, '
                             f'{num_blocks}')
        self.in_channels = in_channels
        self.num_levels = num_levels
        self.plain = plain
        self.pconvs = nn.ModuleList(
            PConvBlock(in_channels, pconv_deform, ibn, ibn_sync, dcn_impl, gn_groups) for _ in range(num_blocks))
        if not plain:
            pad = 0 if legacy_padding else 1
            self.cconv = SharedLevelConv(in_channels, in_channels, 1, pad, extra_deform, dcn_impl)
            self.lconv = SharedLevelConv(in_channels, in_channels, 1, pad, extra_deform, dcn_impl)
            self.cnorm = build_level_norm(in_channels, ibn, ibn_sync, gn_groups)
            self.lnorm = build_level_norm(in_channels, ibn, ibn_sync, gn_groups)

    def init_weights(self):
        """Weights are set at construction (N(0, 0.01), zero bias / offsets): nothing to redo."""
        super().init_weights()

    def _check(self, inputs: Sequence[Tensor]) -> None:
        shapes = [tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__ for x in inputs]
        ok = (len(inputs) == self.num_levels and all(
            hasattr(x, 'dim') and x.dim() == 4 and x.shape[1] == self.in_channels for x in inputs))
        if not ok:
            raise ValueError(f'SEPC was built for {self.num_levels} levels of shape (N, {self.in_channels}, H, W); '
                             f'received {len(inputs)} levels with shapes {shapes}')

    def forward(self, inputs: Sequence[Tensor]) -> Union[Tuple[Tensor, ...], Tuple[Tuple[Tensor, Tensor], ...]]:
        self._check(inputs)
        feats: List[Tensor] = list(inputs)
        for block in self.pconvs:
            feats = block(feats)
        if self.plain:
            return tuple(feats)
        return tuple(zip(self._head_conv(self.cconv, self.cnorm, feats), self._head_conv(self.lconv, self.lnorm, feats)))

    @staticmethod
    def _head_conv(conv: SharedLevelConv, norm: Optional[LevelNorm], feats: List[Tensor]) -> List[Tensor]:
        """cconv / lconv on every level (deformable from level 1), then the norm and ReLU."""
        weight, bias = conv.folded(*folded_ibn(norm))
        return norm_relu(norm, [conv.conv_with(x, lvl > 0, weight, bias) for lvl, x in enumerate(feats)])
