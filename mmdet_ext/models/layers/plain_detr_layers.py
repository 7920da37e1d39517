"""Plain DETR building blocks on MMDetection's transformer layers.

* :class:`PlainDETRUpsampleNeck`: the backbone's last stage (stride 32) -> one stride-16 map of
  ``out_channels`` (ConvTranspose 2x2 s2 halving the channels, 1x1 conv, GroupNorm 32).
* :class:`PlainDETRDecoderLayer`: self-attention (mmcv) -> global BoxRPB cross-attention ->
  FFN, post-norm as in DETR.
* :class:`PlainDETRDecoder`: DINO's decoder loop (query positional embedding from the
  reference boxes, iterative refinement, look-forward-twice references) around those layers;
  optional box re-parameterisation (absolute-pixel boxes refined by Faster R-CNN deltas).
* :func:`decode_box_deltas` / :func:`encode_box_deltas`: those deltas on cxcywh boxes, thin
  wrappers of mmdet's ``delta2bbox`` / ``bbox2delta`` (DeltaXYWHBBoxCoder, means 0, stds 1).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.models.layers import MLP, coordinate_to_encoding, inverse_sigmoid
from mmdet.models.layers.transformer import DetrTransformerDecoderLayer
from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import bbox2delta, delta2bbox
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from mmdet_ext.registry import register
from .box_rpb import BoxRPBCrossAttention

# Box re-parameterisation: |d_w|, |d_h| <= log(1000 / 16) (Faster R-CNN's clamp)
REPARAM_WH_RATIO_CLIP = 16 / 1000
REPARAM_MAX_DWH = math.log(1 / REPARAM_WH_RATIO_CLIP)
# Smallest reference box side (pixels) fed to a decoder layer in reparam mode: sizes are
# multiplicative there, a collapsed box could never grow back.
REPARAM_MIN_SIZE = 1.0


def decode_box_deltas(ref: Tensor, deltas: Tensor) -> Tensor:
    """Apply Faster R-CNN deltas to boxes: centre += d_xy * wh, wh *= exp(clamp(d_wh)).

    Args:
        ref: (..., 4) input boxes, cxcywh (pixels); broadcast against ``deltas``.
        deltas: (..., 4) (dx, dy, dw, dh); |dw|, |dh| are clamped at log(1000 / 16).

    Returns:
        (..., 4) cxcywh boxes, differentiable in both arguments.
    """
    ref = ref.expand_as(deltas)
    xyxy = delta2bbox(bbox_cxcywh_to_xyxy(ref).reshape(-1, 4), deltas.reshape(-1, 4),
                      wh_ratio_clip=REPARAM_WH_RATIO_CLIP)
    return bbox_xyxy_to_cxcywh(xyxy).view(deltas.shape)


def encode_box_deltas(ref: Tensor, target: Tensor, min_size: float = 1e-3) -> Tensor:
    """Deltas that take ``ref`` to ``target`` (inverse of :func:`decode_box_deltas` inside the clamp).

    Args:
        ref, target: (..., 4) cxcywh boxes (pixels), broadcast against each other.
        min_size: target sides are clamped at this (a degenerate ground-truth box would give log 0).

    Returns:
        (..., 4) (dx, dy, dw, dh) = ((t_xy - r_xy) / r_wh, log(t_wh / r_wh)).
    """
    ref, target = torch.broadcast_tensors(ref, target)
    target = torch.cat([target[..., :2], target[..., 2:].clamp(min=min_size)], -1)
    return bbox2delta(bbox_cxcywh_to_xyxy(ref), bbox_cxcywh_to_xyxy(target))


def clamp_box_size(boxes: Tensor, min_size: float = REPARAM_MIN_SIZE) -> Tensor:
    """cxcywh boxes with w, h >= ``min_size``."""
    return torch.cat([boxes[..., :2], boxes[..., 2:].clamp(min=min_size)], -1)


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
    rpb_mode ('linear' / 'log' / None), rpb_hidden, impl, chunk_elems, keep_probs).
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
                img_shape: Optional[Sequence[int]] = None, box_format: str = 'cxcywh') -> Tensor:
        """query / query_pos (B, nQ, d); memory / memory_pos (B, H*W, d); ref_boxes (B, nQ, 4)
        detached, normalised cxcywh (``box_format='cxcywh'``) or xyxy pixels (``'xyxy'``);
        valid_ratios (B, 2); key_padding_mask (B, H*W) True = pad; self_attn_mask (nQ, nQ)
        True = blocked. Returns (B, nQ, d)."""
        query = self.self_attn(query=query, key=query, value=query, query_pos=query_pos,
                               key_pos=query_pos, attn_mask=self_attn_mask)
        query = self.norms[0](query)
        query = query + self.cross_attn(query + query_pos, memory + memory_pos, memory, ref_boxes, feat_size,
                                        stride, valid_ratios, key_padding_mask, box_format=box_format,
                                        img_shape=img_shape)
        query = self.norms[1](query)
        query = self.ffn(query)
        return self.norms[2](query)


class PlainDETRDecoder(BaseModule):
    """Decoder with BoxRPB in every layer, iterative box refinement and look-forward-twice.

    Args:
        num_layers: decoder layers; layer_cfg: :class:`PlainDETRDecoderLayer` kwargs.
        box_reparam: False: boxes are normalised cxcywh refined in logit space (DINO);
            True: boxes are cxcywh in pixels of the padded input and each layer's regression
            branch predicts Faster R-CNN deltas to its input box (:func:`decode_box_deltas`).
    """

    def __init__(self, num_layers: int, layer_cfg: dict, box_reparam: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_layers = num_layers
        self.box_reparam = box_reparam
        self.layers = ModuleList([PlainDETRDecoderLayer(**layer_cfg) for _ in range(num_layers)])
        self.embed_dims = self.layers[0].embed_dims
        self.ref_point_head = MLP(self.embed_dims * 2, self.embed_dims, self.embed_dims, 2)
        self.norm = nn.LayerNorm(self.embed_dims)

    def init_weights(self) -> None:
        """Every Linear of the decoder layers (self-attention incl. its packed in-projection,
        cross-attention projections and BoxRPB MLPs, FFN): truncated normal std 0.02, zero bias
        (the reference's decoder init). ``ref_point_head`` and the norms keep PyTorch's init."""
        super().init_weights()
        for layer in self.layers:
            for m in layer.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.MultiheadAttention):  # q, k, v packed in one Parameter
                    if m.in_proj_weight is not None:
                        nn.init.trunc_normal_(m.in_proj_weight, std=0.02)
                    else:
                        for w in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight):
                            nn.init.trunc_normal_(w, std=0.02)
                    if m.in_proj_bias is not None:
                        nn.init.zeros_(m.in_proj_bias)

    def forward(self, query: Tensor, memory: Tensor, memory_pos: Tensor, key_padding_mask: Optional[Tensor],
                self_attn_mask: Optional[Tensor], reference_points: Tensor, feat_size: Sequence[int],
                stride: float, valid_ratios: Tensor, reg_branches: nn.ModuleList,
                img_shape: Optional[Sequence[int]] = None) -> Tuple[Tensor, List[Tensor]]:
        """reference_points: (B, nQ, 4) cxcywh, detached: sigmoid boxes normalised to the valid
        image, or (``box_reparam``) pixels of the padded input.

        Returns hidden states (L, B, nQ, d) and L + 1 references; references[i + 1] is layer i's
        refined box *not* detached (look-forward-twice: layer i + 1's prediction, built on it in
        the head, also trains layer i), while the next layer's input is detached. In reparam
        mode the references are pixel boxes with sides >= ``REPARAM_MIN_SIZE``.
        """
        H, W = feat_size
        if self.box_reparam:
            pad_px = reference_points.new_tensor([W * stride, H * stride] * 2)
            reference_points = clamp_box_size(reference_points)
        else:
            vr4 = torch.cat([valid_ratios, valid_ratios], -1)[:, None]
        intermediate, references = [], [reference_points]
        for lid, layer in enumerate(self.layers):
            # The query positional embedding always sees boxes normalised to the padded map, in
            # both modes: the reference's reparam mode fed it pixel boxes on one path and
            # normalised ones on another (impiga/Plain-DETR#28); sine features need [0, 1].
            if self.box_reparam:
                ref_input = reference_points / pad_px
                ref_boxes, box_format = bbox_cxcywh_to_xyxy(reference_points), 'xyxy'  # BoxRPB: pixels as is
            else:
                ref_input = reference_points * vr4
                # sigmoid underflow can give an exactly-zero size: BoxRPB needs a positive one
                ref_boxes = torch.cat([reference_points[..., :2], reference_points[..., 2:].clamp(min=1e-6)], -1)
                box_format = 'cxcywh'
            query_pos = self.ref_point_head(coordinate_to_encoding(ref_input, num_feats=self.embed_dims // 2))
            query = layer(query, query_pos, memory, memory_pos, ref_boxes, feat_size, stride, valid_ratios,
                          key_padding_mask, self_attn_mask, img_shape, box_format=box_format)
            if self.box_reparam:
                new_ref = clamp_box_size(decode_box_deltas(reference_points, reg_branches[lid](query)))
            else:
                new_ref = (reg_branches[lid](query) + inverse_sigmoid(reference_points, eps=1e-3)).sigmoid()
            reference_points = new_ref.detach()
            intermediate.append(self.norm(query))
            references.append(new_ref)
        return torch.stack(intermediate), references
