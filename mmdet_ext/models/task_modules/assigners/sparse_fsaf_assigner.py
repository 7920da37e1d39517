"""FSAF assigner with online feature selection, at a cost bounded by the regions' size.

``SparseFSAFAssigner.assign(pred_instances, num_level_priors, gt_instances,
gt_instances_ignore=None)`` takes the anchor-free branch's priors (one box a location,
levels consecutive) and its current predictions, and returns the final assignment:
every GT trained on one level only, chosen from its losses (see :mod:`.fsaf_rules` for
the regions, the conflicts and the selection).

Two modes:

* ``mode='paper'`` (default): the FSAF paper. Regions 0.2 (effective) / 0.5 (ignoring).
  Selection first: for every GT and level, focal + IoU loss averaged over the GT's
  effective region on that level; the level with the smallest sum wins. Then, on that
  level only, the effective region is positive (smaller GTs win overlaps), the ignoring
  region ignores the GT's class, and the ignoring box also ignores the GT's class on the
  two adjacent levels. Everything else is negative.
* ``mode='mmdet'``: what mmdet's ``FSAFHead`` trains with its config
  (``CenterRegionAssigner(pos_scale=0.2, neg_scale=0.2, min_pos_iof=0.01)`` and the loss
  reweighting in ``FSAFHead.loss_by_feat``): regions and conflicts on all levels first,
  then the level of smallest mean loss over the GT's positives (class weights of shadowed
  classes zero, as in mmdet's dense loss); positives on the other levels are ignored for
  the GT's class. Same positives and ignored (prior, class) pairs as mmdet (tested), up to
  the float rounding of the per-level means (only a tie within an ulp could differ).

The selection losses are computed for the region pairs only (an (M, C) focal-loss block
and M IoU losses, M = pairs), under ``no_grad``; ``pred_instances`` carries ``scores``
(P, C) logits and ``bboxes`` (P, 4) decoded predictions. ``regions(...)`` gives the
assignment before selection, equal to ``CenterRegionAssigner``'s.

Result: ``AssignResult`` with ``gt_inds`` (P,) (i+1 positive for GT i, 0 negative, -1
ignored by an ignore box), ``labels`` (P,), ``max_overlaps`` None (as
``CenterRegionAssigner``), and extra properties ``shadowed_labels`` (S, 2) ``[prior,
class]`` pairs whose class loss is ignored (the format ``FSAFHead`` reads),
``selected_levels`` (G,) and ``level_losses`` (L, G).
"""
from typing import List, Optional, Tuple, Union

import torch
from mmdet.models.task_modules.assigners.assign_result import AssignResult
from mmdet.models.task_modules.assigners.base_assigner import BaseAssigner
from mmdet.registry import MODELS, TASK_UTILS
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_ext.registry import register
from .atss_rules import DEFAULT_MAX_ELEMS
from .fsaf_rules import (RegionPairs, apply_shadows, gt_priority, ignored_priors, level_infos, level_mean_losses,
                         region_pairs, resolve_core, select_levels, unique_pairs)
from .input_checks import check_boxes, check_labels, check_level_counts

_HORIZONTAL_ONLY = ('; SparseFSAFAssigner handles horizontal boxes only (FSAF regions are axis-aligned '
                    'scaled boxes): convert rotated boxes or use SparseATSSAssigner')


@register('TASK_UTILS')
class SparseFSAFAssigner(BaseAssigner):
    """FSAF regions + online feature selection, without P x G tensors.

    Args:
        mode: ``'paper'`` or ``'mmdet'`` (see the module docstring).
        pos_scale: effective-region scale (0.2).
        neg_scale: ignoring-region scale; default 0.5 (paper) / 0.2 (mmdet).
        min_pos_iof: a prior belongs to a region when its IoF with the region's box
            exceeds this (mmdet's rule; >= 0). Core priors also need their centre inside
            the GT.
        ignore_gt_scale: priors whose centre lies in an ignore box scaled by this get
            ``gt_inds = -1``.
        foreground_dominate: a positive whose class is ignored by another GT's ignoring
            region stays positive (True) or becomes negative (False, mmdet's default).
        adjacent_ignore: ignore the GT's class in its ignoring box on the levels next to
            the selected one; default True (paper) / False (mmdet).
        loss_cls: focal-loss config used to rank levels (sigmoid, per class).
        loss_bbox: IoU-loss config used to rank levels (on decoded boxes).
        iou_calculator: computes the aligned IoF (``BboxOverlaps2D``).
        max_elems: bound on temporaries where a level is not a grid.
    """

    def __init__(self,
                 mode: str = 'paper',
                 pos_scale: float = 0.2,
                 neg_scale: Optional[float] = None,
                 min_pos_iof: float = 0.01,
                 ignore_gt_scale: float = 0.5,
                 foreground_dominate: bool = False,
                 adjacent_ignore: Optional[bool] = None,
                 loss_cls: dict = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                 loss_bbox: dict = dict(type='IoULoss', eps=1e-6, loss_weight=1.0),
                 iou_calculator: Union[dict, object] = dict(type='BboxOverlaps2D'),
                 max_elems: int = DEFAULT_MAX_ELEMS) -> None:
        if mode not in ('paper', 'mmdet'):
            raise ValueError(f"mode must be 'paper' or 'mmdet', got {mode!r}")
        if neg_scale is None:
            neg_scale = 0.5 if mode == 'paper' else 0.2
        if not 0 < pos_scale <= 1 or not 0 < neg_scale:
            raise ValueError(f'need 0 < pos_scale <= 1 and neg_scale > 0, got {pos_scale}, {neg_scale}')
        if min_pos_iof < 0:
            # a negative threshold would put every prior of the image in every ignoring region
            raise ValueError(f'min_pos_iof must be >= 0, got {min_pos_iof}')
        self.mode = mode
        self.pos_scale = float(pos_scale)
        self.neg_scale = float(neg_scale)
        self.min_pos_iof = float(min_pos_iof)
        self.ignore_gt_scale = float(ignore_gt_scale)
        self.foreground_dominate = bool(foreground_dominate)
        self.adjacent_ignore = (mode == 'paper') if adjacent_ignore is None else bool(adjacent_ignore)
        self.loss_cls = MODELS.build(loss_cls) if isinstance(loss_cls, dict) else loss_cls
        self.loss_bbox = MODELS.build(loss_bbox) if isinstance(loss_bbox, dict) else loss_bbox
        self.iou_calculator = TASK_UTILS.build(iou_calculator) if isinstance(iou_calculator, dict) \
            else iou_calculator
        self.max_elems = int(max_elems)

    # ------------------------------------------------------------------ public API
    def assign(self,
               pred_instances: InstanceData,
               num_level_priors: List[int],
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None) -> AssignResult:
        """Regions, level selection from the current predictions, final assignment.

        Args:
            pred_instances: ``priors`` (P, 4); ``scores`` (P, C) classification logits;
                ``bboxes`` (P, 4) decoded predicted boxes; optional ``valid_flags`` (P,)
                bool (invalid priors, e.g. on padding, take no part).
            num_level_priors: priors per level, in the order of ``priors``.
            gt_instances: ``bboxes`` (G, 4) and ``labels`` (G,).
            gt_instances_ignore: optional ``bboxes`` (N, 4) to ignore.

        Returns:
            AssignResult (see the module docstring).
        """
        ctx = self._inputs(pred_instances, num_level_priors, gt_instances, gt_instances_ignore)
        if 'scores' not in pred_instances or 'bboxes' not in pred_instances:
            raise ValueError('SparseFSAFAssigner.assign selects levels from the predictions: pred_instances '
                             'needs scores (P, C) logits and bboxes (P, 4) decoded boxes; use regions() for '
                             'the assignment without selection')
        scores, preds = pred_instances.scores, pred_instances.bboxes
        P = ctx['priors'].size(0)
        if scores.dim() != 2 or scores.size(0) != P or preds.dim() != 2 or tuple(preds.shape) != (P, 4):
            raise ValueError(f'pred_instances.scores must be (P, C) and bboxes (P, 4) with P = {P}, got '
                             f'{tuple(scores.shape)} and {tuple(preds.shape)}')
        G, L = ctx['gt'].size(0), len(ctx['counts'])
        if G == 0 or P == 0:
            return self._empty(ctx, L)
        gt, gt_labels = ctx['gt'], ctx['labels']
        pairs, ignored, priority = self._regions(ctx)
        level_of = self._prior_levels(ctx['counts'], P, gt.device)
        with torch.no_grad():
            if self.mode == 'mmdet':
                # all levels first (CenterRegionAssigner), then select on the positives
                gt_inds, labels, sh_prior, sh_label = self._resolve(
                    pairs.select(pairs.core), pairs.select(~pairs.core), ignored, priority, gt_labels, P)
                pos = (gt_inds > 0).nonzero().flatten()
                pos_gt = gt_inds[pos] - 1
                weight = scores.new_ones((pos.numel(), scores.size(1)))
                row = torch.full((P, ), -1, dtype=torch.long, device=gt.device)
                row[pos] = torch.arange(pos.numel(), device=gt.device)
                hit = row[sh_prior] >= 0  # shadowed classes of positives weigh 0 in mmdet's loss
                weight[row[sh_prior[hit]], sh_label[hit]] = 0
                losses = self._pair_losses(scores, preds, pos, pos_gt, gt, gt_labels, weight)
                level_losses = level_mean_losses(level_of[pos], pos_gt, losses, G, L)
                selected = select_levels(level_losses)
                demote = level_of[pos] != selected[pos_gt]
                gt_inds, labels = gt_inds.clone(), labels.clone()
                gt_inds[pos[demote]] = 0
                labels[pos[demote]] = -1
                sh_prior = torch.cat([sh_prior, pos[demote]])
                sh_label = torch.cat([sh_label, gt_labels[pos_gt[demote]]])
            else:
                # selection first, on each GT's whole effective region of every level
                core = pairs.select(pairs.core)
                losses = self._pair_losses(scores, preds, core.prior, core.gt, gt, gt_labels, None)
                level_losses = level_mean_losses(core.level, core.gt, losses, G, L)
                selected = select_levels(level_losses)
                offset = pairs.level - selected[pairs.gt]
                on_level = offset == 0
                shadow = ~pairs.core & on_level
                if self.adjacent_ignore:
                    shadow |= offset.abs() == 1
                gt_inds, labels, sh_prior, sh_label = self._resolve(
                    pairs.select(pairs.core & on_level), pairs.select(shadow), ignored, priority, gt_labels, P)
        result = AssignResult(G, gt_inds, None, labels=labels)
        result.set_extra_property('shadowed_labels', unique_pairs(sh_prior, sh_label, scores.size(1)))
        result.set_extra_property('selected_levels', selected)
        result.set_extra_property('level_losses', level_losses)
        return result

    def regions(self,
                pred_instances: InstanceData,
                num_level_priors: List[int],
                gt_instances: InstanceData,
                gt_instances_ignore: Optional[InstanceData] = None) -> AssignResult:
        """The assignment before level selection (all levels), = ``CenterRegionAssigner``'s.

        Same arguments as :meth:`assign` (predictions not needed). Returns ``gt_inds``,
        ``labels`` and ``shadowed_labels`` (deduplicated; mmdet's list may repeat a pair).
        """
        ctx = self._inputs(pred_instances, num_level_priors, gt_instances, gt_instances_ignore)
        P, G = ctx['priors'].size(0), ctx['gt'].size(0)
        if G == 0 or P == 0:
            return self._empty(ctx, len(ctx['counts']))
        pairs, ignored, priority = self._regions(ctx)
        gt_inds, labels, sh_prior, sh_label = self._resolve(
            pairs.select(pairs.core), pairs.select(~pairs.core), ignored, priority, ctx['labels'], P)
        result = AssignResult(G, gt_inds, None, labels=labels)
        result.set_extra_property('shadowed_labels', unique_pairs(sh_prior, sh_label, 1))
        return result

    # ------------------------------------------------------------------ steps
    def _inputs(self, pred_instances, num_level_priors, gt_instances, gt_instances_ignore) -> dict:
        """Validated tensors (see :mod:`.input_checks` for the errors raised)."""
        priors = check_boxes('pred_instances.priors', pred_instances.priors, (4, ), _HORIZONTAL_ONLY)
        gt = check_boxes('gt_instances.bboxes', gt_instances.bboxes, (4, ), _HORIZONTAL_ONLY)
        labels = gt_instances.labels
        check_labels(labels, gt.size(0))
        counts = check_level_counts(num_level_priors, priors.size(0))
        valid = pred_instances.get('valid_flags', None)
        if valid is not None:
            if valid.shape != (priors.size(0), ):
                raise ValueError(f'pred_instances.valid_flags must be ({priors.size(0)},), got {tuple(valid.shape)}')
            valid = valid.bool()
        ignore = None
        if gt_instances_ignore is not None and 'bboxes' in gt_instances_ignore:
            ign = check_boxes('gt_instances_ignore.bboxes', gt_instances_ignore.bboxes, (4, ), _HORIZONTAL_ONLY)
            ignore = ign if ign.numel() else None
        return dict(priors=priors, gt=gt, labels=labels, counts=counts, valid=valid, ignore=ignore)

    def _regions(self, ctx: dict) -> Tuple[RegionPairs, Optional[Tensor], Tensor]:
        """Region pairs of all levels, the ignore-box mask and the GT priorities."""
        priors, gt = ctx['priors'], ctx['gt']
        infos = level_infos(priors, ctx['counts'])

        def iof(prior_boxes: Tensor, boxes: Tensor) -> Tensor:
            return self.iou_calculator(prior_boxes, boxes, mode='iof', is_aligned=True)

        pairs = region_pairs(priors, infos, gt, self.pos_scale, self.neg_scale, self.min_pos_iof, iof,
                             ctx['valid'], self.max_elems)
        ignored = None
        if ctx['ignore'] is not None:
            ignored = ignored_priors(priors, infos, ctx['ignore'], self.ignore_gt_scale, self.max_elems)
            if ctx['valid'] is not None:
                ignored &= ctx['valid']
        return pairs, ignored, gt_priority(gt)

    def _resolve(self, core: RegionPairs, shadow: RegionPairs, ignored: Optional[Tensor], priority: Tensor,
                 gt_labels: Tensor, num_priors: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Core conflicts, ignore boxes, labels and shadows (CenterRegionAssigner's steps 3-5).

        Returns:
            gt_inds (P,), labels (P,), and the shadow pairs as (S,) priors and (S,) labels.
        """
        gt_inds, won = resolve_core(core.prior, core.gt, priority, num_priors)
        sh_prior = torch.cat([shadow.prior, core.prior[~won]])
        sh_gt = torch.cat([shadow.gt, core.gt[~won]])
        if ignored is not None:
            gt_inds[ignored] = -1
        labels = torch.full((num_priors, ), -1, dtype=torch.long, device=gt_inds.device)
        pos = gt_inds > 0
        labels[pos] = gt_labels[gt_inds[pos] - 1]
        sh_label = gt_labels[sh_gt]
        gt_inds, labels, keep = apply_shadows(gt_inds, labels, sh_prior, sh_label, self.foreground_dominate)
        return gt_inds, labels, sh_prior[keep], sh_label[keep]

    def _pair_losses(self, scores: Tensor, preds: Tensor, prior: Tensor, gt: Tensor, gt_boxes: Tensor,
                     gt_labels: Tensor, weight: Optional[Tensor]) -> Tensor:
        """Focal loss summed over classes + IoU loss of every (prior, gt) pair, (M,)."""
        if prior.numel() == 0:
            return scores.new_zeros(0)
        cls = self.loss_cls(scores[prior], gt_labels[gt], weight, reduction_override='none')
        reg = self.loss_bbox(preds[prior], gt_boxes[gt], reduction_override='none')
        cls = cls.sum(dim=-1) if cls.dim() == 2 else cls
        reg = reg.sum(dim=-1) if reg.dim() == 2 else reg
        return cls + reg

    @staticmethod
    def _prior_levels(counts: List[int], num_priors: int, device) -> Tensor:
        """(P,) level index of every prior."""
        return torch.repeat_interleave(torch.arange(len(counts), device=device),
                                       torch.tensor(counts, dtype=torch.long, device=device),
                                       output_size=num_priors)

    @staticmethod
    def _empty(ctx: dict, num_levels: int) -> AssignResult:
        P, G = ctx['priors'].size(0), ctx['gt'].size(0)
        dev = ctx['priors'].device
        result = AssignResult(G, torch.zeros(P, dtype=torch.long, device=dev), None,
                              labels=torch.full((P, ), -1, dtype=torch.long, device=dev))
        result.set_extra_property('shadowed_labels', torch.zeros((0, 2), dtype=torch.long, device=dev))
        result.set_extra_property('selected_levels', torch.zeros(G, dtype=torch.long, device=dev))
        result.set_extra_property('level_losses', ctx['priors'].new_full((num_levels, G), 1e6))
        return result

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mode={self.mode!r}, pos_scale={self.pos_scale}, '
                f'neg_scale={self.neg_scale}, min_pos_iof={self.min_pos_iof}, '
                f'adjacent_ignore={self.adjacent_ignore}, foreground_dominate={self.foreground_dominate})')
