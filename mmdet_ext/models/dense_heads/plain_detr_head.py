"""Plain DETR head: DeformableDETRHead (two-stage, refinement) + hybrid matching losses, and the
losses / predictions of box re-parameterisation (pixel boxes, L1 on Faster R-CNN deltas)."""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.models.dense_heads.detr_head import DETRHead
from mmdet.models.utils import multi_apply
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmdet.utils import InstanceList, OptInstanceList, reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_ext.models.layers.plain_detr_layers import decode_box_deltas, encode_box_deltas
from mmdet_ext.registry import register


@register('MODELS')
class PlainDETRHead(DeformableDETRHead):
    """DeformableDETRHead with hybrid matching (H-DETR), as Plain DETR trains.

    In training the decoder runs ``num_queries_one2one`` queries followed by one-to-many queries
    (the two groups cannot attend to each other). Losses:

    * the one-to-one queries: Hungarian matching to the ground truth, every decoder layer
      (DETRHead's loss code), keys ``loss_cls``, ``loss_bbox``, ``loss_iou``, ``d{i}.*``;
    * the one-to-many queries: Hungarian matching to the ground truth repeated ``k_one2many``
      times (so each object gets up to k positives), same losses times ``lambda_one2many``,
      keys prefixed ``o2m_``;
    * the two-stage proposals that seeded the queries (DINO style: the selected top-k, real
      labels), keys ``enc_loss_*``.

    At test time only the one-to-one queries exist (the detector builds only them).

    Box re-parameterisation (``box_reparam=True``, set by the detector): the references are
    cxcywh pixel boxes and each regression branch predicts deltas to its layer's input box
    (:func:`decode_box_deltas`). ``loss_bbox`` (L1) is then on the deltas, its targets
    ``encode(gt, input box)``; ``loss_iou`` on the decoded pixel boxes; the assigner's L1 cost
    must be ``DeltaL1Cost`` (it reads ``pred_instances.deltas`` / ``.priors``). Predictions
    are the decoded pixel boxes (normalised by ``img_shape`` for mmdet's predict code).

    Args:
        num_queries_one2one: queries of the one-to-one group (first in the query axis).
        k_one2many: ground-truth repetitions for the one-to-many group.
        lambda_one2many: weight of the one-to-many losses.
        box_reparam: see above.
    """

    def __init__(self, *args, num_queries_one2one: int = 300, k_one2many: int = 6,
                 lambda_one2many: float = 1.0, box_reparam: bool = False, **kwargs) -> None:
        self.num_queries_one2one = num_queries_one2one
        self.k_one2many = k_one2many
        self.lambda_one2many = lambda_one2many
        self.box_reparam = box_reparam
        super().__init__(*args, **kwargs)

    def loss_by_feat(self, all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor,
                     enc_cls_scores: Tensor, enc_bbox_preds: Tensor, batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """all_layers_*: (L, B, nQ_total, C / 4); enc_*: (B, nQ_total, C / 4) (may be None)."""
        n1 = self.num_queries_one2one
        losses = DETRHead.loss_by_feat(self, all_layers_cls_scores[:, :, :n1], all_layers_bbox_preds[:, :, :n1],
                                       batch_gt_instances, batch_img_metas, batch_gt_instances_ignore)
        if all_layers_cls_scores.shape[2] > n1 and self.k_one2many > 0:
            o2m = DETRHead.loss_by_feat(self, all_layers_cls_scores[:, :, n1:], all_layers_bbox_preds[:, :, n1:],
                                        self._repeat_gt(batch_gt_instances), batch_img_metas)
            losses.update({f'o2m_{k}': v * self.lambda_one2many for k, v in o2m.items()})
        if enc_cls_scores is not None:
            enc_cls, enc_bbox, enc_iou = self.loss_by_feat_single(enc_cls_scores, enc_bbox_preds,
                                                                  batch_gt_instances, batch_img_metas)
            losses.update(enc_loss_cls=enc_cls, enc_loss_bbox=enc_bbox, enc_loss_iou=enc_iou)
        return losses

    def _repeat_gt(self, batch_gt_instances: InstanceList) -> InstanceList:
        return [InstanceData(bboxes=g.bboxes.repeat(self.k_one2many, 1), labels=g.labels.repeat(self.k_one2many))
                for g in batch_gt_instances]

    # ------------------------------------------------------------------ box re-parameterisation
    def forward(self, hidden_states: Tensor, references: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """(L, B, nQ, C) class logits and (L, B, nQ, 4) boxes: normalised cxcywh, or with
        ``box_reparam`` cxcywh pixels."""
        if not self.box_reparam:
            return super().forward(hidden_states, references)
        cls_scores, boxes, _, _ = self.forward_reparam(hidden_states, references)
        return cls_scores, boxes

    def forward_reparam(self, hidden_states: Tensor, references: List[Tensor]) -> Tuple[Tensor, ...]:
        """Returns class logits (L, B, nQ, C), boxes (L, B, nQ, 4) cxcywh pixels, deltas
        (L, B, nQ, 4) and the layers' input boxes (L, B, nQ, 4), detached (the L1 targets' base).

        references[l] is not detached (look-forward-twice: the box of layer l also trains layer
        l - 1 through it, via GIoU).
        """
        cls_scores, boxes, deltas, refs = [], [], [], []
        for lid in range(hidden_states.shape[0]):
            h = hidden_states[lid]
            d = self.reg_branches[lid](h)
            cls_scores.append(self.cls_branches[lid](h))
            deltas.append(d)
            boxes.append(decode_box_deltas(references[lid], d))
            refs.append(references[lid].detach())
        return tuple(torch.stack(x) for x in (cls_scores, boxes, deltas, refs))

    def loss(self, hidden_states: Tensor, references: List[Tensor], enc_outputs_class: Tensor,
             enc_outputs_coord: Tensor, batch_data_samples: SampleList, enc_outputs_delta: Optional[Tensor] = None,
             enc_outputs_ref: Optional[Tensor] = None) -> dict:
        """``enc_outputs_delta`` / ``enc_outputs_ref`` (B, nQ, 4): the proposals' deltas and the
        proposals they apply to (``box_reparam`` only)."""
        if not self.box_reparam:
            return super().loss(hidden_states, references, enc_outputs_class, enc_outputs_coord,
                                batch_data_samples)
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        outs = self.forward_reparam(hidden_states, references)
        enc = None
        if enc_outputs_class is not None:
            if enc_outputs_delta is None or enc_outputs_ref is None:
                raise ValueError('PlainDETRHead (box_reparam): the proposal loss needs enc_outputs_delta '
                                 'and enc_outputs_ref, got None')
            enc = (enc_outputs_class, enc_outputs_coord, enc_outputs_delta, enc_outputs_ref)
        return self.loss_by_feat_reparam(*outs, enc, batch_gt_instances, batch_img_metas)

    def loss_by_feat_reparam(self, cls_scores: Tensor, boxes: Tensor, deltas: Tensor, refs: Tensor,
                             enc: Optional[Tuple[Tensor, ...]], batch_gt_instances: InstanceList,
                             batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Same keys as :meth:`loss_by_feat`. cls_scores / boxes / deltas / refs: (L, B, nQ, .)
        as :meth:`forward_reparam` returns; enc: (cls, boxes, deltas, refs), each (B, nQ, .), or None."""
        n1 = self.num_queries_one2one
        layers = (cls_scores, boxes, deltas, refs)
        losses = self._layer_losses_reparam([x[:, :, :n1] for x in layers], batch_gt_instances, batch_img_metas)
        if cls_scores.shape[2] > n1 and self.k_one2many > 0:
            o2m = self._layer_losses_reparam([x[:, :, n1:] for x in layers], self._repeat_gt(batch_gt_instances),
                                             batch_img_metas)
            losses.update({f'o2m_{k}': v * self.lambda_one2many for k, v in o2m.items()})
        if enc is not None:
            enc_cls, enc_bbox, enc_iou = self.loss_by_feat_single_reparam(*enc, batch_gt_instances, batch_img_metas)
            losses.update(enc_loss_cls=enc_cls, enc_loss_bbox=enc_bbox, enc_loss_iou=enc_iou)
        return losses

    def _layer_losses_reparam(self, layers: List[Tensor], batch_gt_instances: InstanceList,
                              batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """DETRHead.loss_by_feat's key layout: last layer plain, earlier ones ``d{i}.``."""
        losses_cls, losses_bbox, losses_iou = multi_apply(
            self.loss_by_feat_single_reparam, *layers, batch_gt_instances=batch_gt_instances,
            batch_img_metas=batch_img_metas)
        out = dict(loss_cls=losses_cls[-1], loss_bbox=losses_bbox[-1], loss_iou=losses_iou[-1])
        for i, (c, b, u) in enumerate(zip(losses_cls[:-1], losses_bbox[:-1], losses_iou[:-1])):
            out.update({f'd{i}.loss_cls': c, f'd{i}.loss_bbox': b, f'd{i}.loss_iou': u})
        return out

    def loss_by_feat_single_reparam(self, cls_scores: Tensor, boxes: Tensor, deltas: Tensor, refs: Tensor,
                                    batch_gt_instances: InstanceList,
                                    batch_img_metas: List[dict]) -> Tuple[Tensor, Tensor, Tensor]:
        """One layer: (B, nQ, C) logits, (B, nQ, 4) pixel cxcywh boxes, deltas and input boxes.

        Returns loss_cls (as DETRHead), loss_bbox = L1(deltas, encode(gt, input box)) and
        loss_iou = GIoU(box, gt) on pixels, both averaged over the matched queries.
        """
        num_imgs = cls_scores.size(0)
        (labels_list, label_weights_list, delta_targets_list, box_targets_list, weights_list, pos_list,
         neg_list) = multi_apply(self._get_targets_single_reparam, [cls_scores[i] for i in range(num_imgs)],
                                 [boxes[i] for i in range(num_imgs)], [deltas[i] for i in range(num_imgs)],
                                 [refs[i] for i in range(num_imgs)], batch_gt_instances, batch_img_metas)
        num_total_pos = sum(p.numel() for p in pos_list)
        num_total_neg = sum(n.numel() for n in neg_list)
        labels, label_weights = torch.cat(labels_list), torch.cat(label_weights_list)
        delta_targets, box_targets = torch.cat(delta_targets_list), torch.cat(box_targets_list)
        weights = torch.cat(weights_list)

        cls_scores = cls_scores.reshape(-1, self.cls_out_channels)
        cls_avg_factor = num_total_pos * 1.0 + num_total_neg * self.bg_cls_weight
        if self.sync_cls_avg_factor:
            cls_avg_factor = reduce_mean(cls_scores.new_tensor([cls_avg_factor]))
        cls_avg_factor = max(cls_avg_factor, 1)
        loss_cls = self.loss_cls(cls_scores, labels, label_weights, avg_factor=cls_avg_factor)

        num_total_pos = torch.clamp(reduce_mean(loss_cls.new_tensor([num_total_pos])), min=1).item()
        loss_iou = self.loss_iou(bbox_cxcywh_to_xyxy(boxes.reshape(-1, 4)), box_targets, weights,
                                 avg_factor=num_total_pos)
        loss_bbox = self.loss_bbox(deltas.reshape(-1, 4), delta_targets, weights, avg_factor=num_total_pos)
        return loss_cls, loss_bbox, loss_iou

    def _get_targets_single_reparam(self, cls_score: Tensor, box: Tensor, delta: Tensor, ref: Tensor,
                                    gt_instances: InstanceData, img_meta: dict) -> tuple:
        """One image: labels, label weights, delta targets (nQ, 4), box targets (nQ, 4) xyxy
        pixels, box weights (nQ, 4), positive and negative indices."""
        num_q = box.size(0)
        pred_instances = InstanceData(scores=cls_score, bboxes=bbox_cxcywh_to_xyxy(box), deltas=delta, priors=ref)
        assign_result = self.assigner.assign(pred_instances=pred_instances, gt_instances=gt_instances,
                                             img_meta=img_meta)
        gt_bboxes, gt_labels = gt_instances.bboxes, gt_instances.labels
        pos_inds = torch.nonzero(assign_result.gt_inds > 0, as_tuple=False).squeeze(-1).unique()
        neg_inds = torch.nonzero(assign_result.gt_inds == 0, as_tuple=False).squeeze(-1).unique()
        pos_gt = gt_bboxes[(assign_result.gt_inds[pos_inds] - 1).long()]
        labels = gt_bboxes.new_full((num_q, ), self.num_classes, dtype=torch.long)
        labels[pos_inds] = gt_labels[(assign_result.gt_inds[pos_inds] - 1).long()]
        label_weights = gt_bboxes.new_ones(num_q)
        delta_targets = torch.zeros_like(box)
        box_targets = torch.zeros_like(box)
        weights = torch.zeros_like(box)
        weights[pos_inds] = 1.0
        delta_targets[pos_inds] = encode_box_deltas(ref[pos_inds], bbox_xyxy_to_cxcywh(pos_gt)).to(box.dtype)
        box_targets[pos_inds] = pos_gt.to(box.dtype)
        return labels, label_weights, delta_targets, box_targets, weights, pos_inds, neg_inds

    def predict_by_feat(self, all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor,
                        batch_img_metas: List[Dict], rescale: bool = False) -> InstanceList:
        """With ``box_reparam`` the last layer's pixel boxes are normalised by each image's
        ``img_shape`` and go through mmdet's DETR post-processing (scale back, clamp, rescale)."""
        if not self.box_reparam:
            return super().predict_by_feat(all_layers_cls_scores, all_layers_bbox_preds, batch_img_metas, rescale)
        results = []
        for i, meta in enumerate(batch_img_metas):
            h, w = meta['img_shape']
            box = all_layers_bbox_preds[-1][i] / all_layers_bbox_preds.new_tensor([w, h, w, h])
            results.append(self._predict_by_feat_single(all_layers_cls_scores[-1][i], box, meta, rescale))
        return results
