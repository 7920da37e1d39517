"""ARC-ResNet: MMDetection's ResNet with chosen 3x3 convs replaced by adaptive rotated convs."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet

from mmdet_ext.registry import register
from ..layers.adaptive_rotated_conv import AdaptiveRotatedConv2d

__all__ = ['ARCResNet']

StageSpec = Union[str, Sequence[int], None]


@register('MODELS')
class ARCResNet(ResNet):
    """ResNet whose block 3x3 convs are :class:`AdaptiveRotatedConv2d` in chosen blocks.

    Everything else is mmdet's ``ResNet`` (stem, 1x1 convs, downsample, BN, ReLU, plugins,
    ``out_indices``, ``frozen_stages``, ``norm_eval``, ``with_cp``, ``init_cfg``), so configs use
    it like ``mmdet.ResNet``: ``backbone=dict(type='ARCResNet', depth=50, ...)``.

    The default is the released "RxFFF_n4" setting: stage 1 untouched, every block of stages 2-4
    replaced (the strided first blocks included), n = 4 kernels: 13 ARC convs in ResNet-50, 30 in
    ResNet-101. In a ``Bottleneck`` the replaced conv is ``conv2`` (the only 3x3 conv, which
    carries the stride in 'pytorch' style). A ``BasicBlock`` (ResNet-18/34) has two 3x3 convs;
    ``arc_conv='conv2'`` (default) replaces the second one, whose input is already at the block's
    output resolution (cheaper routing) and whose name matches the Bottleneck case;
    ``arc_conv='conv1'`` replaces the first (strided) one instead.

    Args:
        arc_blocks: one entry per stage: ``'all'``, a list of block indices (0-based), or
            ``None`` / ``()`` for none. Default: ``(None, 'all', 'all', 'all')`` cut to
            ``num_stages``. Naming a block that does not exist raises ``ValueError`` naming it.
        arc_cfg: keyword arguments of :class:`AdaptiveRotatedConv2d` (``num_kernels=4``,
            ``theta_max=40``, ``dropout=0.2``, ``impl='auto'``).
        arc_conv: ``'conv2'`` or (BasicBlock only) ``'conv1'``.
        **kwargs: arguments of mmdet's ``ResNet``.

    Loading an ordinary ResNet checkpoint (torchvision / mmcls / mmpretrain, or a detector
    trained with a plain ResNet): each replaced conv's 4-D weight is copied into all n kernels of
    its bank, by :meth:`AdaptiveRotatedConv2d._load_from_state_dict`, so both
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` and the runner's ``load_from`` work
    (both load with ``strict=False``; the routing parameters are absent from such a checkpoint,
    are reported as missing keys and keep their own initialisation). What the network then
    computes: with every bank kernel equal to the pretrained W, an ARC conv applies
    ``sum_i lam_i M(theta_i) W``; with theta = 0 (theta head zeroed) that is exactly
    ``(sum_i lam_i(x)) * conv(x, W)``: the pretrained conv scaled by a per-image gain in (0, n).
    At the routing's initialisation (gate bias 0, weights ~ N(0, 0.02)) lam_i is close to 0.5
    and theta close to 0, so each replaced conv computes about ``n / 2`` (= 2 for n = 4) times the
    pretrained conv, slightly rotated. The following BN (frozen under ``norm_eval``) does not undo
    that gain, so the features are not the pretrained ResNet's until fine-tuning adapts the
    gates; the paper instead starts from ARC-ResNet weights pretrained on ImageNet (not
    reachable offline).
    """

    def __init__(self, depth: int, arc_blocks: Optional[Sequence[StageSpec]] = None,
                 arc_cfg: Optional[Dict] = None, arc_conv: str = 'conv2', **kwargs):
        super().__init__(depth, **kwargs)
        self.arc_cfg = dict(arc_cfg or {})
        if arc_conv not in ('conv1', 'conv2'):
            raise ValueError(f"arc_conv must be 'conv1' or 'conv2', got {arc_conv!r}")
        if arc_conv == 'conv1' and self.block is not BasicBlock:
            raise ValueError("arc_conv='conv1' applies to BasicBlock ResNets (depth 18/34) only: "
                             'the conv1 of a Bottleneck is 1x1')
        self.arc_conv = arc_conv
        self.arc_blocks = self._resolve_blocks(arc_blocks)
        for stage, blocks in enumerate(self.arc_blocks):
            layer = getattr(self, self.res_layers[stage])
            for index in blocks:
                self._replace(layer[index], f'{self.res_layers[stage]}.{index}')
        # ResNet.__init__ froze stages before the swap: freeze the new modules too.
        self._freeze_stages()

    def _resolve_blocks(self, arc_blocks: Optional[Sequence[StageSpec]]) -> Tuple[Tuple[int, ...], ...]:
        """Validate ``arc_blocks``; return a tuple of sorted block indices per stage."""
        num_stages = len(self.stage_blocks)
        if arc_blocks is None:
            arc_blocks = (None, ) + ('all', ) * (num_stages - 1)
        if isinstance(arc_blocks, str) or len(arc_blocks) != num_stages:
            raise ValueError(f'arc_blocks needs one entry per stage ({num_stages} for this '
                             f'ResNet-{self.depth}), got {arc_blocks!r}')
        resolved: List[Tuple[int, ...]] = []
        missing = []
        for stage, (spec, count) in enumerate(zip(arc_blocks, self.stage_blocks)):
            if spec is None:
                spec = ()
            if isinstance(spec, str):
                if spec != 'all':
                    raise ValueError(f"arc_blocks[{stage}] must be 'all', a list of block indices "
                                     f'or None, got {spec!r}')
                spec = range(count)
            indices = []
            for index in spec:
                if isinstance(index, bool) or not isinstance(index, int):
                    raise ValueError(f'arc_blocks[{stage}] holds {index!r}: block indices are ints')
                if not 0 <= index < count:
                    missing.append(f'layer{stage + 1}.{index}')
                indices.append(index)
            resolved.append(tuple(sorted(set(indices))))
        if missing:
            sizes = ', '.join(f'layer{i + 1}: {n}' for i, n in enumerate(self.stage_blocks))
            raise ValueError(f'arc_blocks names blocks that do not exist: {", ".join(missing)} '
                             f'(ResNet-{self.depth} blocks per stage, indices from 0: {sizes})')
        return tuple(resolved)

    def _replace(self, block: nn.Module, name: str) -> None:
        if not isinstance(block, (BasicBlock, Bottleneck)):
            raise TypeError(f'{name} is a {type(block).__name__}; ARCResNet handles mmdet '
                            'BasicBlock / Bottleneck only')
        conv = getattr(block, self.arc_conv)
        if type(conv) is not nn.Conv2d:
            raise TypeError(f'{name}.{self.arc_conv} is a {type(conv).__name__}, not a plain '
                            'nn.Conv2d (conv_cfg / dcn are not combined with ARC)')
        if conv.bias is not None or conv.padding_mode != 'zeros':
            raise ValueError(f'{name}.{self.arc_conv}: ARC convs have no bias and zero padding')
        try:
            arc = AdaptiveRotatedConv2d(
                conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=False,
                **self.arc_cfg)
        except ValueError as err:
            raise ValueError(f'cannot replace {name}.{self.arc_conv}: {err}') from err
        setattr(block, self.arc_conv, arc)

    def train(self, mode: bool = True) -> 'ARCResNet':
        """As mmdet's ResNet.train (frozen stages, norm_eval), but returns self like nn.Module
        (mmdet's returns None, which breaks ``model.eval()`` chaining)."""
        super().train(mode)
        return self

    def arc_modules(self) -> Dict[str, AdaptiveRotatedConv2d]:
        """Name -> ARC conv, in forward order (e.g. ``'layer2.0.conv2'``)."""
        return {name: m for name, m in self.named_modules() if isinstance(m, AdaptiveRotatedConv2d)}
