"""The full FSAF head: RetinaNet's anchor-based branch + the anchor-free (FSAF) branch.

FSAF (Zhu et al., CVPR 2019) adds to every pyramid level of RetinaNet two 3x3 convs on the
outputs of RetinaNet's classification and box towers: a K-channel classification map and
a 4-channel map of distances to the box's sides (ReLU, normalised by the level's stride
times 4). Both branches train together (the anchor-free losses weighted 0.5 in the
paper) and their detections are merged before one NMS at inference. MMDetection's
``FSAFHead`` is the anchor-free half only.

Built from mmdet's pieces:

* the towers, the anchor-based convs, anchors, ``MaxIoUAssigner`` targets and losses
  (``loss_cls``, ``loss_bbox``), and the per-branch decoding at inference are
  :class:`~mmdet.models.dense_heads.RetinaHead`'s, untouched;
* the anchor-free branch is an mmdet ``FSAFHead`` with ``stacked_convs=0`` (so just its
  ``retina_cls`` / ``retina_reg`` convs, its initialisation, one anchor a location, its
  ``TBLRBBoxCoder``, its loss modules and its ``_predict_by_feat_single``), fed with the
  towers' outputs instead of owning towers of its own.

``with_anchor_based=False`` leaves only the anchor-free branch (mmdet's FSAF detector,
trained with :class:`SparseFSAFAssigner`).
"""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.dense_heads import FSAFHead, RetinaHead
from mmdet.models.utils import select_single_mlvl
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_ext.registry import register

_AF_DEFAULTS = dict(
    anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1, ratios=[1.0],
                          strides=[8, 16, 32, 64, 128]),
    bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0),
    loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=0.5),
    loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=0.5))


@register('MODELS')
class FSAFRetinaHead(RetinaHead):
    """RetinaNet head plus the FSAF anchor-free branch, trained jointly, merged at test time.

    Args:
        num_classes, in_channels, stacked_convs, ...: as :class:`RetinaHead` (the
            anchor-based branch and the shared towers).
        anchor_free: overrides of the anchor-free branch's ``FSAFHead`` config; keys
            ``anchor_generator`` (one anchor a location; strides must match the
            pyramid), ``bbox_coder``, ``loss_cls`` and ``loss_bbox`` (default loss
            weights 0.5, the paper's).
        with_anchor_based: False keeps only the anchor-free branch.
        train_cfg: RetinaHead's (``assigner``, ``sampler``, ``allowed_border``,
            ``pos_weight``) plus ``af_assigner``, the anchor-free branch's assigner
            (default ``SparseFSAFAssigner(mode='paper')``). Without the anchor-based
            branch ``assigner`` may be left out.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 anchor_free: Optional[dict] = None,
                 with_anchor_based: bool = True,
                 train_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        # set before RetinaHead.__init__, which calls _init_layers
        self.with_anchor_based = bool(with_anchor_based)
        af_cfg = copy.deepcopy(_AF_DEFAULTS)
        af_cfg.update(copy.deepcopy(dict(anchor_free or {})))
        self._af_cfg = af_cfg
        af_assigner = None
        if train_cfg is not None:
            train_cfg = ConfigDict(copy.deepcopy(dict(train_cfg)))
            af_assigner = train_cfg.pop('af_assigner', dict(type='SparseFSAFAssigner', mode='paper'))
            if not self.with_anchor_based and 'assigner' not in train_cfg:
                train_cfg['assigner'] = af_assigner  # AnchorHead builds one; unused without that branch
        if init_cfg is None:
            init_cfg = dict(type='Normal', layer='Conv2d', std=0.01)
            if self.with_anchor_based:
                init_cfg['override'] = dict(type='Normal', name='retina_cls', std=0.01, bias_prob=0.01)
        super().__init__(num_classes, in_channels, train_cfg=train_cfg, init_cfg=init_cfg, **kwargs)
        if train_cfg is not None:
            self.af_assigner = TASK_UTILS.build(af_assigner) if isinstance(af_assigner, dict) else af_assigner

    def _init_layers(self) -> None:
        """RetinaHead's towers (+ its anchor-based convs) and the anchor-free convs."""
        super()._init_layers()
        if not self.with_anchor_based:
            del self.retina_cls, self.retina_reg
        tower_out = self.feat_channels if self.stacked_convs > 0 else self.in_channels
        self.af_head = FSAFHead(
            num_classes=self.num_classes, in_channels=tower_out, stacked_convs=0, feat_channels=tower_out,
            reg_decoded_bbox=True, train_cfg=None, test_cfg=self.test_cfg, **self._af_cfg)
        if self.af_head.prior_generator.num_base_priors[0] != 1:
            raise ValueError('anchor_free.anchor_generator must give one anchor a location (FSAF is anchor-free)')

    # ------------------------------------------------------------------ forward
    def forward_single(self, x: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor], Tensor, Tensor]:
        """One level.

        Args:
            x: (N, in_channels, H, W).

        Returns:
            cls_score (N, A*C, H, W) and bbox_pred (N, A*4, H, W) of the anchor-based branch
            (None without it); af_cls_score (N, C, H, W) and af_bbox_pred (N, 4, H, W), the
            anchor-free branch's (distances >= 0).
        """
        cls_feat, reg_feat = x, x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        af_cls = self.af_head.retina_cls(cls_feat)
        af_reg = self.relu(self.af_head.retina_reg(reg_feat))  # TBLR distances are non-negative
        if not self.with_anchor_based:
            return None, None, af_cls, af_reg
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat), af_cls, af_reg

    # ------------------------------------------------------------------ training
    def loss_by_feat(self,
                     cls_scores: List[Optional[Tensor]],
                     bbox_preds: List[Optional[Tensor]],
                     af_cls_scores: List[Tensor],
                     af_bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """RetinaNet's losses (``loss_cls``, ``loss_bbox``) + the anchor-free ones (``*_af``)."""
        losses = {}
        if self.with_anchor_based:
            losses.update(super().loss_by_feat(cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
                                               batch_gt_instances_ignore))
        losses.update(self.loss_by_feat_af(af_cls_scores, af_bbox_preds, batch_gt_instances, batch_img_metas,
                                           batch_gt_instances_ignore))
        return losses

    def loss_by_feat_af(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict],
                        batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """The anchor-free branch's focal and IoU losses.

        Divergence from mmdet's ``FSAFHead.loss_by_feat``: there, ``CenterRegionAssigner``
        makes every level's centre region positive, the losses are computed densely, and
        a per-GT Python loop over per-prior losses picks each GT's level and zeroes the
        weights elsewhere, which costs P x G. Here the assigner picks the level first,
        from the detached predictions of the region pairs only, so the targets are final
        before the loss; with ``SparseFSAFAssigner(mode='mmdet')`` they equal mmdet's
        (tested), and ``mode='paper'`` gives the paper's adjacent-level ignoring.

        Args:
            cls_scores: per level (N, C, H, W) logits.
            bbox_preds: per level (N, 4, H, W) normalised distances.
            batch_gt_instances, batch_img_metas, batch_gt_instances_ignore: as usual.

        Returns:
            ``loss_cls_af`` and ``loss_bbox_af``, averaged over the positives (over the
            negatives when there is none, as mmdet's FSAF does).
        """
        af = self.af_head
        num_imgs, num_cls = len(batch_img_metas), self.cls_out_channels
        device = cls_scores[0].device
        featmap_sizes = [c.shape[-2:] for c in cls_scores]
        anchor_list, valid_list = af.get_anchors(featmap_sizes, batch_img_metas, device=device)
        priors = torch.cat(anchor_list[0])
        num_level_priors = [a.size(0) for a in anchor_list[0]]
        scores = torch.cat([c.permute(0, 2, 3, 1).reshape(num_imgs, -1, num_cls) for c in cls_scores], dim=1)
        # mmdet's FSAFHead clamps the distances so that no decoded box has zero area
        dists = torch.cat([b.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4) for b in bbox_preds], dim=1).clamp(min=1e-4)
        labels = torch.full(scores.shape[:2], self.num_classes, dtype=torch.long, device=device)
        label_weights = scores.new_ones(scores.shape)
        pos_boxes, pos_targets, num_neg = [], [], 0
        for i in range(num_imgs):
            boxes = get_box_tensor(af.bbox_coder.decode(priors, dists[i]))
            valid = torch.cat(valid_list[i])
            gt = batch_gt_instances[i]
            ignore = batch_gt_instances_ignore[i] if batch_gt_instances_ignore else None
            result = self.af_assigner.assign(
                InstanceData(priors=priors, scores=scores[i].detach(), bboxes=boxes.detach(), valid_flags=valid),
                num_level_priors, InstanceData(bboxes=get_box_tensor(gt.bboxes), labels=gt.labels), ignore)
            pos = result.gt_inds > 0
            labels[i, pos] = result.labels[pos]
            label_weights[i, ~valid | (result.gt_inds < 0)] = 0
            shadowed = result.get_extra_property('shadowed_labels')
            label_weights[i, shadowed[:, 0], shadowed[:, 1]] = 0
            pos_boxes.append(boxes[pos])
            pos_targets.append(get_box_tensor(gt.bboxes)[result.gt_inds[pos] - 1])
            num_neg += int(((result.gt_inds == 0) & valid).sum())
        num_pos = sum(b.size(0) for b in pos_boxes)
        avg_factor = float(num_pos) if num_pos > 0 else float(max(num_neg, 1))
        loss_cls = af.loss_cls(scores.reshape(-1, num_cls), labels.reshape(-1), label_weights.reshape(-1, num_cls),
                               avg_factor=avg_factor)
        if num_pos:
            loss_bbox = af.loss_bbox(torch.cat(pos_boxes), torch.cat(pos_targets), avg_factor=avg_factor)
        else:
            loss_bbox = dists.sum() * 0  # keeps the branch in the graph
        return dict(loss_cls_af=loss_cls, loss_bbox_af=loss_bbox)

    # ------------------------------------------------------------------ inference
    def predict_by_feat(self,
                        cls_scores: List[Optional[Tensor]],
                        bbox_preds: List[Optional[Tensor]],
                        af_cls_scores: List[Tensor],
                        af_bbox_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Both branches' candidates (top ``nms_pre`` a level each), then one NMS.

        Returns:
            Per image an InstanceData with ``bboxes`` (n, 4), ``scores`` (n,), ``labels`` (n,).
        """
        cfg = ConfigDict(self.test_cfg if cfg is None else cfg)
        num_levels = len(af_cls_scores)
        featmap_sizes = [af_cls_scores[i].shape[-2:] for i in range(num_levels)]
        device, dtype = af_cls_scores[0].device, af_cls_scores[0].dtype
        af_priors = self.af_head.prior_generator.grid_priors(featmap_sizes, dtype=dtype, device=device)
        ab_priors = None
        if self.with_anchor_based:
            ab_priors = self.prior_generator.grid_priors(featmap_sizes, dtype=dtype, device=device)
        no_factors = [None] * num_levels
        results = []
        for i, img_meta in enumerate(batch_img_metas):
            parts = []
            if self.with_anchor_based:
                parts.append(super()._predict_by_feat_single(
                    select_single_mlvl(cls_scores, i), select_single_mlvl(bbox_preds, i), no_factors, ab_priors,
                    img_meta, cfg, rescale=rescale, with_nms=False))
            parts.append(self.af_head._predict_by_feat_single(
                select_single_mlvl(af_cls_scores, i), select_single_mlvl(af_bbox_preds, i), no_factors, af_priors,
                img_meta, cfg, rescale=rescale, with_nms=False))
            merged = InstanceData.cat(parts) if len(parts) > 1 else parts[0]
            results.append(self._bbox_post_process(merged, cfg, rescale=False, with_nms=with_nms,
                                                   img_meta=img_meta))
        return results
