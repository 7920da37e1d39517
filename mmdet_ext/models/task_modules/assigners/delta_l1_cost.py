"""L1 matching cost on Faster R-CNN deltas (Plain DETR's box re-parameterisation)."""
from typing import Optional

from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_ext.models.layers.plain_detr_layers import encode_box_deltas
from mmdet_ext.registry import register


@register('TASK_UTILS')
class DeltaL1Cost(BaseMatchCost):
    """cost[i, j] = weight * || deltas_i - encode(gt_j, priors_i) ||_1.

    The L1 cost of a query that predicts deltas to its own input box: the target deltas depend
    on the pair (query i's input box, ground truth j), unlike ``BBoxL1Cost``'s ``cdist``.

    ``pred_instances`` needs ``deltas`` (Q, 4) and ``priors`` (Q, 4): the query's input boxes,
    cxcywh pixels; ``gt_instances.bboxes`` (G, 4) xyxy pixels. Returns (Q, G).
    Memory: Q * G * 4 floats (1500 one-to-many queries x 600 repeated boxes: 14 MB).
    """

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        for name in ('deltas', 'priors'):
            if name not in pred_instances:
                raise KeyError(f'DeltaL1Cost needs pred_instances.{name} (Q, 4); got fields '
                               f'{sorted(pred_instances.keys())} (use it with box_reparam=True)')
        deltas, priors = pred_instances.deltas, pred_instances.priors
        targets = encode_box_deltas(priors[:, None], bbox_xyxy_to_cxcywh(gt_instances.bboxes)[None])
        return (deltas[:, None] - targets).abs().sum(-1) * self.weight
