"""Plain DETR ("DETR Doesn't Need Multi-Scale or Locality Design", ICCV 2023) on MMDetection.

Structure (MMDetection's DetectionTransformer steps, DeformableDETR's two-stage helpers):

* backbone + :class:`PlainDETRUpsampleNeck`: one map at stride 16 (no encoder: the memory is
  this projected map plus a sine positional embedding);
* ``pre_decoder``: a 4-level pyramid (strides 8 / 16 / 32 / 64: deconv, identity, one and two
  2x2 stride-2 convs) built from the single map gives per-location proposals as in
  Deformable-DETR's two-stage mode; the top ``num_queries_one2one (+ num_queries_one2many`` in
  training) by best class score become the reference boxes (detached) while the content
  queries are learned embeddings (mixed query selection, DINO);
* decoder (:class:`PlainDETRDecoder`): every layer has global cross-attention to the single
  map with BoxRPB, iterative refinement, look-forward-twice;
* hybrid matching: the one-to-many group follows the one-to-one group on the query axis, a
  self-attention mask keeps the groups apart, :class:`PlainDETRHead` computes both losses;
  only the one-to-one queries run at test time.

* ``box_reparam=True`` (the paper's box re-parameterisation): boxes are cxcywh in pixels of the
  padded input; the proposals and every decoder layer predict Faster R-CNN deltas to their input
  box, the L1 loss and L1 matching cost are on those deltas, GIoU on the pixel boxes, BoxRPB
  takes the pixel boxes as they are.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import DeformableDETR
from mmdet.models.layers import SinePositionalEncoding
from mmdet.structures import OptSampleList
from torch import Tensor, nn

from mmdet_ext.models.layers.box_rpb import check_feature_stride
from mmdet_ext.models.layers.plain_detr_layers import PlainDETRDecoder, clamp_box_size, decode_box_deltas
from mmdet_ext.registry import register


def hybrid_self_attn_mask(num_one2one: int, num_one2many: int, device=None) -> Optional[Tensor]:
    """(nQ, nQ) bool self-attention mask, True = blocked: the two query groups do not see each other."""
    if num_one2many == 0:
        return None
    n = num_one2one + num_one2many
    mask = torch.zeros(n, n, dtype=torch.bool, device=device)
    mask[:num_one2one, num_one2one:] = True
    mask[num_one2one:, :num_one2one] = True
    return mask


@register('MODELS')
class PlainDETR(DeformableDETR):
    """Plain DETR with BoxRPB (see the module docstring).

    Args:
        num_queries_one2one: queries at test time (and the one-to-one group in training).
        num_queries_one2many: extra training queries matched one-to-many (0 disables hybrid matching).
        feat_stride: stride of the neck's output map (checked against the padded input).
        decoder: dict(num_layers, layer_cfg=dict(self_attn_cfg, cross_attn_cfg, ffn_cfg)).
        box_reparam: box re-parameterisation (see the module docstring); passed on to the
            decoder and the head (use ``DeltaL1Cost`` instead of ``BBoxL1Cost`` in the assigner).
        Other args: DetectionTransformer's (backbone, neck, bbox_head, positional_encoding, ...).
    """

    def __init__(self, *args, num_queries_one2one: int = 300, num_queries_one2many: int = 1500,
                 feat_stride: int = 16, box_reparam: bool = False, bbox_head: dict = None,
                 **kwargs) -> None:
        self.box_reparam = box_reparam
        self.num_queries_one2one = num_queries_one2one
        self.num_queries_one2many = num_queries_one2many
        self.feat_stride = feat_stride
        if bbox_head is not None:
            bbox_head['num_queries_one2one'] = num_queries_one2one
            bbox_head['box_reparam'] = box_reparam
        super().__init__(*args, bbox_head=bbox_head, with_box_refine=True, as_two_stage=True,
                         num_feature_levels=4, num_queries=num_queries_one2one, **kwargs)

    def _init_layers(self) -> None:
        self.positional_encoding = SinePositionalEncoding(**self.positional_encoding)
        self.decoder = PlainDETRDecoder(**self.decoder, box_reparam=self.box_reparam)
        self.embed_dims = d = self.decoder.embed_dims
        if self.positional_encoding.num_feats * 2 != d:
            raise ValueError(f'positional_encoding.num_feats must be embed_dims / 2 = {d // 2}, '
                             f'got {self.positional_encoding.num_feats}')
        self.query_embedding = nn.Embedding(self.num_queries_one2one + self.num_queries_one2many, d)
        # proposal pyramid from the single stride-16 map: strides 8, 16, 32, 64
        self.proposal_up = nn.Sequential(nn.ConvTranspose2d(d, d, 2, stride=2), nn.GroupNorm(32, d))
        self.proposal_down = nn.ModuleList([
            nn.Sequential(nn.Conv2d(d, d, 2, stride=2), nn.GroupNorm(32, d)) for _ in range(2)])
        self.memory_trans_fc = nn.Linear(d, d)
        self.memory_trans_norm = nn.LayerNorm(d)

    def init_weights(self) -> None:
        super(DeformableDETR, self).init_weights()
        nn.init.xavier_uniform_(self.memory_trans_fc.weight)
        nn.init.normal_(self.query_embedding.weight)
        # the decoder's Linear layers (trunc normal .02): PlainDETRDecoder.init_weights, run above

    # ------------------------------------------------------------------ transformer steps
    def pre_transformer(self, img_feats: Tuple[Tensor],
                        batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """Single map -> flattened memory (B, H*W, d), its positional embedding, padding mask
        (B, H*W) or None, valid ratios (B, 2)."""
        feat = img_feats[-1]
        B, _, H, W = feat.shape
        input_h, input_w = batch_data_samples[0].batch_input_shape
        check_feature_stride((H, W), self.feat_stride, (input_h, input_w))
        img_shapes = [s.img_shape for s in batch_data_samples]
        if all(s[0] == input_h and s[1] == input_w for s in img_shapes):
            img_mask, mask = None, None
            pos = self.positional_encoding(None, input=feat)
            valid_ratios = feat.new_ones(B, 2)
        else:
            img_mask = feat.new_ones((B, input_h, input_w))
            for i, (h, w) in enumerate(img_shapes):
                img_mask[i, :h, :w] = 0
            mask = F.interpolate(img_mask[None], size=(H, W)).to(torch.bool)[0]
            pos = self.positional_encoding(mask)
            valid_ratios = self.get_valid_ratio(mask)
        encoder_inputs_dict = dict(feat=feat, feat_mask=mask, feat_pos=pos, img_mask=img_mask,
                                   valid_ratios=valid_ratios)
        decoder_inputs_dict = dict(
            memory_mask=None if mask is None else mask.flatten(1), memory_pos=pos.flatten(2).transpose(1, 2),
            feat_size=(H, W), valid_ratios=valid_ratios, img_shape=(input_h, input_w))
        return encoder_inputs_dict, decoder_inputs_dict

    def forward_encoder(self, feat: Tensor, feat_mask: Optional[Tensor], feat_pos: Tensor,
                        img_mask: Optional[Tensor], valid_ratios: Tensor) -> Dict:
        """No encoder: the memory is the projected map itself."""
        return dict(feat=feat, img_mask=img_mask, valid_ratios=valid_ratios)

    def _proposal_pyramid(self, feat: Tensor, img_mask: Optional[Tensor]):
        levels = [self.proposal_up(feat), feat]
        x = feat
        for down in self.proposal_down:
            x = down(x)
            levels.append(x)
        memory, masks, shapes = [], [], []
        for lvl in levels:
            memory.append(lvl.flatten(2).transpose(1, 2))
            shapes.append(lvl.shape[-2:])
            if img_mask is not None:
                masks.append(F.interpolate(img_mask[None], size=lvl.shape[-2:]).to(torch.bool)[0].flatten(1))
        spatial_shapes = torch.tensor([list(s) for s in shapes], device=feat.device)
        return torch.cat(memory, 1), (torch.cat(masks, 1) if masks else None), spatial_shapes

    def pre_decoder(self, feat: Tensor, img_mask: Optional[Tensor], valid_ratios: Tensor,
                    batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """Two-stage proposals from the pyramid, top-k reference boxes, learned content queries.

        Box re-parameterisation: the proposals (normalised to the valid image) become pixel
        boxes, the proposal head predicts deltas to them, and the head also gets the selected
        deltas and proposals (``enc_outputs_delta``, ``enc_outputs_ref``) for its L1 on deltas.
        """
        B, d, H, W = feat.shape
        n1 = self.num_queries_one2one
        nq = n1 + (self.num_queries_one2many if self.training else 0)
        memory, mask, spatial_shapes = self._proposal_pyramid(feat, img_mask)
        if memory.shape[1] < nq:
            raise ValueError(f'PlainDETR: {nq} queries need as many proposals, the pyramid of a '
                             f'{tuple(feat.shape[-2:])} map has only {memory.shape[1]} locations')
        output_memory, output_proposals = self.gen_encoder_output_proposals(memory, mask, spatial_shapes)
        num_layers = self.decoder.num_layers
        enc_class = self.bbox_head.cls_branches[num_layers](output_memory)
        enc_reg = self.bbox_head.reg_branches[num_layers](output_memory)
        topk = torch.topk(enc_class.max(-1)[0], k=nq, dim=1)[1]
        topk_score = torch.gather(enc_class, 1, topk[..., None].expand(-1, -1, enc_class.shape[-1]))
        query = self.query_embedding.weight[:nq][None].expand(B, -1, -1)
        head_inputs_dict = dict()
        if self.box_reparam:
            # invalid proposals are +inf logits -> sigmoid 1: finite, never NaN
            valid_px = valid_ratios * valid_ratios.new_tensor([W * self.feat_stride, H * self.feat_stride])
            proposals = clamp_box_size(output_proposals.sigmoid() * valid_px.repeat(1, 2)[:, None])
            topk_ref = torch.gather(proposals, 1, topk[..., None].expand(-1, -1, 4))
            topk_delta = torch.gather(enc_reg, 1, topk[..., None].expand(-1, -1, 4))
            topk_coords = decode_box_deltas(topk_ref, topk_delta)  # cxcywh pixels
            reference_points = clamp_box_size(topk_coords.detach())
            if self.training:
                head_inputs_dict = dict(enc_outputs_class=topk_score, enc_outputs_coord=topk_coords,
                                        enc_outputs_delta=topk_delta, enc_outputs_ref=topk_ref)
        else:
            enc_coord_unact = enc_reg + output_proposals
            topk_coords_unact = torch.gather(enc_coord_unact, 1, topk[..., None].expand(-1, -1, 4))
            reference_points = topk_coords_unact.detach().sigmoid()
            if self.training:
                head_inputs_dict = dict(enc_outputs_class=topk_score, enc_outputs_coord=topk_coords_unact.sigmoid())
        decoder_inputs_dict = dict(
            query=query, reference_points=reference_points,
            self_attn_mask=hybrid_self_attn_mask(n1, nq - n1, feat.device),
            memory=feat.flatten(2).transpose(1, 2))
        return decoder_inputs_dict, head_inputs_dict

    def forward_transformer(self, img_feats: Tuple[Tensor], batch_data_samples: OptSampleList = None) -> Dict:
        encoder_inputs_dict, decoder_inputs_dict = self.pre_transformer(img_feats, batch_data_samples)
        encoder_outputs_dict = self.forward_encoder(**encoder_inputs_dict)
        tmp_dec_in, head_inputs_dict = self.pre_decoder(**encoder_outputs_dict,
                                                        batch_data_samples=batch_data_samples)
        decoder_inputs_dict.update(tmp_dec_in)
        head_inputs_dict.update(self.forward_decoder(**decoder_inputs_dict))
        return head_inputs_dict

    def forward_decoder(self, query: Tensor, memory: Tensor, memory_pos: Tensor, memory_mask: Optional[Tensor],
                        reference_points: Tensor, self_attn_mask: Optional[Tensor], feat_size, valid_ratios: Tensor,
                        img_shape) -> Dict:
        hidden_states, references = self.decoder(
            query=query, memory=memory, memory_pos=memory_pos, key_padding_mask=memory_mask,
            self_attn_mask=self_attn_mask, reference_points=reference_points, feat_size=feat_size,
            stride=self.feat_stride, valid_ratios=valid_ratios, reg_branches=self.bbox_head.reg_branches,
            img_shape=img_shape)
        return dict(hidden_states=hidden_states, references=references)
