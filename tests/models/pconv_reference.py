"""The spec's PConv written out naively, as the oracle for the layer and neck tests."""
from typing import List, Sequence

import torch.nn.functional as F
from torch import Tensor


def pconv_sums(block, feats: Sequence[Tensor]) -> List[Tensor]:
    """K_same(x_l) + K_down(x_{l-1}) + Up(K_up(x_{l+1})) per level, before any normalisation, with
    every kernel deformable from level 1 where the block is (through ``SharedLevelConv.forward``)."""
    outs = []
    for lvl, x in enumerate(feats):
        out = block.k_same(x, lvl > 0)
        if lvl > 0:
            out = out + block.k_down(feats[lvl - 1], lvl > 0)
        if lvl < len(feats) - 1:
            up = block.k_up(feats[lvl + 1], lvl > 0)
            out = out + F.interpolate(up, size=x.shape[-2:], mode='bilinear', align_corners=True)
        outs.append(out)
    return outs
