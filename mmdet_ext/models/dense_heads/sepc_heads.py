"""Thin adapters: MMDetection's RetinaNet / ATSS / FSAF / FreeAnchor heads driven by the SEPC neck.

SEPC replaces the heads' conv towers and gives one (cls_feat, reg_feat) pair per level; each
adapter keeps only its head's final prediction convs (``stacked_convs=0``) and applies them to the
pair. Losses, anchors, assigners and post-processing are mmdet's, unchanged.
"""
from typing import Sequence, Tuple

from mmcv.cnn import Scale
from mmdet.models.dense_heads import ATSSHead, FreeAnchorRetinaHead, FSAFHead, RetinaHead
from torch import Tensor

from mmdet_ext.registry import register


def split_pair(x, head) -> Tuple[Tensor, Tensor]:
    """(cls_feat, reg_feat) of one level; names the problem otherwise."""
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return x[0], x[1]
    got = tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__
    raise TypeError(f'{type(head).__name__} expects one (cls_feat, reg_feat) pair per level from the SEPC '
                    f'neck (plain=False); received {got}')


def _no_tower(head) -> None:
    if head.stacked_convs != 0:
        raise ValueError(f'{type(head).__name__}: SEPC replaces the conv tower, expected stacked_convs=0, '
                         f'received {head.stacked_convs}')


class _RetinaPairMixin:
    """RetinaHead's ``retina_cls`` / ``retina_reg`` applied to a (cls_feat, reg_feat) pair; no tower.
    Put it before a RetinaHead subclass in the bases."""

    def __init__(self, *args, stacked_convs: int = 0, **kwargs):
        super().__init__(*args, stacked_convs=stacked_convs, **kwargs)
        _no_tower(self)

    def forward_single(self, x: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        cls_feat, reg_feat = split_pair(x, self)
        return self.retina_cls(cls_feat), self._regression(self.retina_reg(reg_feat))

    def _regression(self, out: Tensor) -> Tensor:
        return out


@register('MODELS')
class SEPCRetinaHead(_RetinaPairMixin, RetinaHead):
    """RetinaHead on (cls_feat, reg_feat) pairs: ``retina_cls`` / ``retina_reg`` only."""


@register('MODELS')
class SEPCFreeAnchorRetinaHead(_RetinaPairMixin, FreeAnchorRetinaHead):
    """FreeAnchorRetinaHead (a RetinaHead with the FreeAnchor loss) on SEPC pairs."""


@register('MODELS')
class SEPCFSAFHead(_RetinaPairMixin, FSAFHead):
    """FSAFHead on SEPC pairs (keeps FSAF's ReLU on the TBLR distances)."""

    def _regression(self, out: Tensor) -> Tensor:
        return self.relu(out)


@register('MODELS')
class SEPCATSSHead(ATSSHead):
    """ATSSHead on SEPC pairs: ``atss_cls`` on cls_feat, ``atss_reg`` (scaled) and centerness on
    reg_feat. ``feat_channels`` defaults to ``in_channels`` (the prediction convs read it)."""

    def __init__(self, num_classes: int, in_channels: int, *args, stacked_convs: int = 0, **kwargs):
        kwargs.setdefault('feat_channels', in_channels)
        if kwargs['feat_channels'] != in_channels:
            raise ValueError(f'SEPCATSSHead: without a tower feat_channels must equal in_channels '
                             f'({in_channels}), received {kwargs["feat_channels"]}')
        super().__init__(num_classes, in_channels, *args, stacked_convs=stacked_convs, **kwargs)
        _no_tower(self)

    def forward_single(self, x: Sequence[Tensor], scale: Scale) -> Tuple[Tensor, Tensor, Tensor]:
        cls_feat, reg_feat = split_pair(x, self)
        bbox_pred = scale(self.atss_reg(reg_feat)).float()
        return self.atss_cls(cls_feat), bbox_pred, self.atss_centerness(reg_feat)
