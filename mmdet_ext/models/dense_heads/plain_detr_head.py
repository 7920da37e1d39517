"""Plain DETR head: DeformableDETRHead (two-stage, refinement) + hybrid matching losses."""
from typing import Dict, List

from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.models.dense_heads.detr_head import DETRHead
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.structures import InstanceData
from torch import Tensor

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

    Args:
        num_queries_one2one: queries of the one-to-one group (first in the query axis).
        k_one2many: ground-truth repetitions for the one-to-many group.
        lambda_one2many: weight of the one-to-many losses.
    """

    def __init__(self, *args, num_queries_one2one: int = 300, k_one2many: int = 6,
                 lambda_one2many: float = 1.0, **kwargs) -> None:
        self.num_queries_one2one = num_queries_one2one
        self.k_one2many = k_one2many
        self.lambda_one2many = lambda_one2many
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
            repeated = [InstanceData(bboxes=g.bboxes.repeat(self.k_one2many, 1),
                                     labels=g.labels.repeat(self.k_one2many)) for g in batch_gt_instances]
            o2m = DETRHead.loss_by_feat(self, all_layers_cls_scores[:, :, n1:], all_layers_bbox_preds[:, :, n1:],
                                        repeated, batch_img_metas)
            losses.update({f'o2m_{k}': v * self.lambda_one2many for k, v in o2m.items()})
        if enc_cls_scores is not None:
            enc_cls, enc_bbox, enc_iou = self.loss_by_feat_single(enc_cls_scores, enc_bbox_preds,
                                                                  batch_gt_instances, batch_img_metas)
            losses.update(enc_loss_cls=enc_cls, enc_loss_bbox=enc_bbox, enc_loss_iou=enc_iou)
        return losses
