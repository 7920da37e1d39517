"""Plain DETR building blocks on MMDetection's transformer layers.

* :class:`PlainDETRUpsampleNeck`: the backbone's last stage (stride 32) -> one stride-16 map of
  ``out_channels`` (ConvTranspose 2x2 s2 halving the channels, 1x1 conv, GroupNorm 32).
* :class:`PlainDETRDecoderLayer`: self-attention (mmcv) -> global BoxRPB cross-attention ->
  FFN, post-norm as in DETR.
* :class:`PlainDETRDecoder`: DINO's decoder loop (query positional embedding from the
  reference boxes, iterative refinement, look-forward-twice references) around those layers.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.models.layers import MLP, coordinate_to_encoding, inverse_sigmoid
from mmdet.models.layers.transformer import DetrTransformerDecoderLayer
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from mmdet_ext.registry import register
from .box_rpb import BoxRPBCrossAttention


@register('MODELS')
class PlainDETRUpsampleNeck(BaseModule):
    """Last backbone stage -> a single stride-16 map (Plain DETR's input projection).

    Args:
        in_channels: channels of the backbone's last output (stride 32).
        out_channels: d of the transformer.
        upsample: False keeps the input stride (for a backbone already at stride 16).
    Returns (forward): a 1-tuple with (B, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int = 256, upsample: bool = True,
                 num_groups: int = 32, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        mid = in_channels // 2 if upsample else in_channels
        self.up = nn.ConvTranspose2d(in_channels, mid, 2, stride=2) if upsample else nn.Identity()
        self.proj = nn.Conv2d(mid, out_channels, 1)
        self.norm = nn.GroupNorm(num_groups, out_channels)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.xavier_uniform_(self.proj.weight, gain=1)
        nn.init.zeros_(self.proj.bias)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor]:
        return (self.norm(self.proj(self.up(feats[-1]))), )


class PlainDETRDecoderLayer(DetrTransformerDecoderLayer):
    """DETR decoder layer whose cross-attention is :class:`BoxRPBCrossAttention`.

    ``cross_attn_cfg``: kwargs of :class:`BoxRPBCrossAttention` (embed_dims, num_heads,
    rpb_mode ('linear' / 'log' / None), rpb_hidden, impl, chunk_elems).
    """

    def _init_layers(self) -> None:
        self.self_attn = MultiheadAttention(**self.self_attn_cfg)
        cfg = {k: v for k, v in self.cross_attn_cfg.items() if k not in ('batch_first', 'dropout')}
        self.cross_attn = BoxRPBCrossAttention(**cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = ModuleList([build_norm_layer(self.norm_cfg, self.embed_dims)[1] for _ in range(3)])

    def forward(self, query: Tensor, query_pos: Tensor, memory: Tensor, memory_pos: Tensor,
                ref_boxes: Tensor, feat_size: Sequence[int], stride: float, valid_ratios: Tensor,
                key_padding_mask: Optional[Tensor] = None, self_attn_mask: Optional[Tensor] = None,
                img_shape: Optional[Sequence[int]] = None) -> Tensor:
        """query / query_pos (B, nQ, d); memory / memory_pos (B, H*W, d); ref_boxes (B, nQ, 4)
        normalised cxcywh (detached); valid_ratios (B, 2); key_padding_mask (B, H*W) True = pad;
        self_attn_mask (nQ, nQ) True = blocked. Returns (B, nQ, d)."""
        query = self.self_attn(query=query, key=query, value=query, query_pos=query_pos,
                               key_pos=query_pos, attn_mask=self_attn_mask)
        query = self.norms[0](query)
        query = query + self.cross_attn(query + query_pos, memory + memory_pos, memory, ref_boxes, feat_size,
                                        stride, valid_ratios, key_padding_mask, img_shape=img_shape)
        query = self.norms[1](query)
        query = self.ffn(query)
        return self.norms[2](query)


class PlainDETRDecoder(BaseModule):
    """Decoder with BoxRPB in every layer, iterative box refinement and look-forward-twice.

    Args:
        num_layers: decoder layers; layer_cfg: :class:`PlainDETRDecoderLayer` kwargs.
    """

    def __init__(self, num_layers: int, layer_cfg: dict, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_layers = num_layers
        self.layers = ModuleList([PlainDETRDecoderLayer(**layer_cfg) for _ in range(num_layers)])
        self.embed_dims = self.layers[0].embed_dims
        self.ref_point_head = MLP(self.embed_dims * 2, self.embed_dims, self.embed_dims, 2)
        self.norm = nn.LayerNorm(self.embed_dims)

    def forward(self, query: Tensor, memory: Tensor, memory_pos: Tensor, key_padding_mask: Optional[Tensor],
                self_attn_mask: Optional[Tensor], reference_points: Tensor, feat_size: Sequence[int],
                stride: float, valid_ratios: Tensor, reg_branches: nn.ModuleList,
                img_shape: Optional[Sequence[int]] = None) -> Tuple[Tensor, List[Tensor]]:
        """reference_points: (B, nQ, 4) sigmoid cxcywh normalised to the valid image.

        Returns hidden states (L, B, nQ, d) and L + 1 references; references[i + 1] is layer i's
        refined box *not* detached (look-forward-twice: layer i + 1's prediction, built on it in
        the head, also trains layer i), while the next layer's input is detached.
        """
        intermediate, references = [], [reference_points]
        vr4 = torch.cat([valid_ratios, valid_ratios], -1)[:, None]
        for lid, layer in enumerate(self.layers):
            ref_input = reference_points * vr4  # normalised to the padded map, for the query pos
            query_pos = self.ref_point_head(coordinate_to_encoding(ref_input, num_feats=self.embed_dims // 2))
            # sigmoid underflow can give an exactly-zero size: BoxRPB needs a positive one
            ref_boxes = torch.cat([reference_points[..., :2], reference_points[..., 2:].clamp(min=1e-6)], -1)
            query = layer(query, query_pos, memory, memory_pos, ref_boxes, feat_size, stride, valid_ratios,
                          key_padding_mask, self_attn_mask, img_shape)
            new_ref = (reg_branches[lid](query) + inverse_sigmoid(reference_points, eps=1e-3)).sigmoid()
            reference_points = new_ref.detach()
            intermediate.append(self.norm(query))
            references.append(new_ref)
        return torch.stack(intermediate), references
