"""``SparseATSSAssigner``: ATSS assignment whose cost does not grow with priors x GTs.

Drop-in for mmdet's ``ATSSAssigner`` (used by ``ATSSHead``) and mmrotate's
``RotatedATSSAssigner`` (used by ``RotatedATSSHead``): same constructor options, same
``assign(pred_instances, num_level_priors, gt_instances, gt_instances_ignore=None)``
returning an ``AssignResult`` with the same ``gt_inds``, ``max_overlaps`` and ``labels``
(see :mod:`.atss_rules` for the rule, the memory bound and how distance ties break).

Box types:

* GT: horizontal ``(G, 4)`` x1,y1,x2,y2 (Tensor or ``HorizontalBoxes``) -> mmdet's
  centre-inside rule; rotated ``(G, 5)`` cx,cy,w,h,t (Tensor or ``RotatedBoxes``) ->
  mmrotate's point-in-rotated-box rule.
* priors: ``(P, 5)`` (Tensor or ``RotatedBoxes``) are rotated (centre = first two
  columns); otherwise horizontal, the first four columns x1,y1,x2,y2 as mmdet slices them.
* Bad input raises an error that names it (the references fail deep inside or assign
  silently wrong): GT that is not (G, 4) / (G, 5) (e.g. (G, 7), quadrilaterals), rotated
  GT with horizontal priors or with the horizontal-only ``BboxOverlaps2D``, horizontal GT
  with rotated priors or a rotated-only calculator -> ``TypeError``; NaN / Inf
  coordinates, ``num_level_priors`` that do not add up to P -> ``ValueError``.

The IoU of candidate pairs comes from ``iou_calculator`` called with
``is_aligned=True`` (mmdet's ``BboxOverlaps2D`` for horizontal boxes; mmrotate's
``RBboxOverlaps2D`` or :class:`SparseRBboxOverlaps2D` for rotated ones): the calculators
compute each pair independently, so the values equal the references' dense matrix.

``alpha`` (DDOD's dynamic cost ``sigmoid(score)^(1-alpha) * IoU(pred, gt)^alpha``) is
supported; ``pred_instances`` must then hold ``scores`` (P, C) logits and ``bboxes``
(P, 4) decoded predictions, as for mmdet's assigner. The cost is computed for the
candidate pairs only; it agrees with the reference to float rounding (``sigmoid`` /
``pow`` may take a vectorised path for one and a scalar path for the other).
"""
import warnings
from typing import List, Optional, Union

import torch
from mmdet.models.task_modules.assigners.assign_result import AssignResult
from mmdet.models.task_modules.assigners.base_assigner import BaseAssigner
from mmdet.models.task_modules.assigners.iou2d_calculator import BboxOverlaps2D
from mmdet.registry import TASK_UTILS
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_ext.registry import register
from .input_checks import box_tensor, check_boxes, check_labels, check_level_counts
from .atss_rules import (DEFAULT_MAX_ELEMS, atss_assign, box_centers, centers_inside_hboxes,
                         centers_inside_rboxes)


# IoU calculators that accept rotated (N, 5) boxes only
_ROTATED_CALCULATORS = ('RBboxOverlaps2D', 'SparseRBboxOverlaps2D', 'FakeRBboxOverlaps2D')


def _box_tensor(boxes) -> Tensor:
    """Tensor of a BaseBoxes-like object (``.tensor``) or the tensor itself."""
    return boxes if isinstance(boxes, Tensor) else boxes.tensor


@register('TASK_UTILS')
class SparseATSSAssigner(BaseAssigner):
    """ATSS assigner with bounded memory (G x k*L pairs instead of P x G).

    Args:
        topk: number of priors selected on each level (k).
        alpha: DDOD dynamic-cost exponent, or None for plain ATSS.
        iou_calculator: config of the IoU calculator (``dict(type='BboxOverlaps2D')``
            by default; ``dict(type='RBboxOverlaps2D')`` or
            ``dict(type='SparseRBboxOverlaps2D')`` for rotated boxes), or a built callable.
        ignore_iof_thr: priors whose IoF with an ignore box exceeds this are never
            candidates and get ``gt_inds = -1``; <= 0 disables it.
        max_elems: bound (elements) on the temporaries of chunked steps (the dense
            fallback of the candidate search and the ignore-box IoF); not in mmdet.
    """

    def __init__(self,
                 topk: int,
                 alpha: Optional[float] = None,
                 iou_calculator: Union[dict, object] = dict(type='BboxOverlaps2D'),
                 ignore_iof_thr: float = -1,
                 max_elems: int = DEFAULT_MAX_ELEMS) -> None:
        if int(topk) != topk or topk < 0:
            raise ValueError(f'topk must be a non-negative integer, got {topk!r}')
        if alpha is not None and not 0 <= float(alpha) <= 1:
            raise ValueError(f'alpha must be None or in [0, 1], got {alpha!r}')
        self.topk = int(topk)
        self.alpha = alpha
        self.iou_calculator = TASK_UTILS.build(iou_calculator) if isinstance(iou_calculator, dict) \
            else iou_calculator
        self.ignore_iof_thr = ignore_iof_thr
        self.max_elems = int(max_elems)
        self.last_stats: dict = {}  # search statistics of the last call (window / dense GTs)

    def assign(self,
               pred_instances: InstanceData,
               num_level_priors: List[int],
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None) -> AssignResult:
        """Assign GTs to priors (see :mod:`.atss_rules` for the steps).

        Args:
            pred_instances: ``priors`` (P, 4) / (P, 5) (Tensor or boxes); with ``alpha``
                also ``scores`` (P, C) and ``bboxes`` (P, 4).
            num_level_priors: priors per level, in the order of ``priors``.
            gt_instances: ``bboxes`` (G, 4) / (G, 5) and ``labels`` (G,).
            gt_instances_ignore: optional ``bboxes`` to ignore (used when
                ``ignore_iof_thr > 0``).

        Returns:
            AssignResult with ``gt_inds`` (P,) (0 negative, -1 ignored, i+1 for GT i),
            ``max_overlaps`` (P,) (IoU / cost of the assigned GT, -1e8 for unassigned
            priors, zeros when G == 0 or P == 0) and ``labels`` (P,) (-1 for non-positive).
        """
        gt_bboxes = gt_instances.bboxes
        gt_labels = gt_instances.labels
        priors = pred_instances.priors
        priors_t, gt_t = self._check_inputs(pred_instances, num_level_priors, gt_instances, gt_instances_ignore)
        if priors_t.size(-1) > 5:
            # mmdet's ATSSAssigner keeps the first four columns
            priors_t = priors_t[:, :4]
            priors = priors_t
        num_gt, num_priors = gt_t.size(0), priors_t.size(0)
        device = priors_t.device

        message = ('Invalid alpha parameter because cls_scores or bbox_preds are None. If you '
                   'want to use the cost-based ATSSAssigner, please set cls_scores, bbox_preds '
                   'and self.alpha at the same time. ')
        if self.alpha is None:
            if 'scores' in pred_instances or 'bboxes' in pred_instances:
                warnings.warn(message)
        elif not ('scores' in pred_instances and 'bboxes' in pred_instances):
            raise ValueError(message)

        gt_inds = torch.zeros(num_priors, dtype=torch.long, device=device)
        if num_gt == 0 or num_priors == 0:
            return AssignResult(num_gt, gt_inds, priors_t.new_zeros((num_priors, )),
                                labels=torch.full((num_priors, ), -1, dtype=torch.long, device=device))

        ignored = None
        if (self.ignore_iof_thr > 0 and gt_instances_ignore is not None
                and gt_instances_ignore.bboxes.numel() > 0):
            ignored = self._ignored_priors(priors, num_priors, gt_instances_ignore.bboxes)

        if self.alpha is None:
            def pair_overlaps(p_idx: Tensor, g_idx: Tensor) -> Tensor:
                return self.iou_calculator(priors[p_idx], gt_bboxes[g_idx], is_aligned=True).reshape(-1)
        else:
            scores, preds, alpha = pred_instances.scores, pred_instances.bboxes, self.alpha

            def pair_overlaps(p_idx: Tensor, g_idx: Tensor) -> Tensor:
                cls_cost = torch.sigmoid(scores[p_idx, gt_labels[g_idx]])
                ious = self.iou_calculator(preds[p_idx], gt_bboxes[g_idx], is_aligned=True).reshape(-1)
                return cls_cost**(1 - alpha) * ious**alpha

        prior_ctrs = box_centers(priors_t)
        if gt_t.size(-1) == 5:
            def inside(p_idx: Tensor, g_idx: Tensor) -> Tensor:
                return centers_inside_rboxes(prior_ctrs[p_idx], gt_t[g_idx], eps=0.01)
        else:
            def inside(p_idx: Tensor, g_idx: Tensor) -> Tensor:
                return centers_inside_hboxes(prior_ctrs[p_idx], gt_t[g_idx], eps=0.01)

        stats: dict = {}
        pos_inds, max_overlaps = atss_assign(prior_ctrs, num_level_priors, box_centers(gt_t), self.topk,
                                             pair_overlaps, inside, ignored, self.max_elems, stats)
        self.last_stats = stats
        if ignored is not None:
            gt_inds[ignored] = -1
        positive = pos_inds > 0
        gt_inds = torch.where(positive, pos_inds, gt_inds)  # a positive pair overrides "ignored"
        labels = torch.full((num_priors, ), -1, dtype=torch.long, device=device)
        labels[positive] = gt_labels[pos_inds[positive] - 1]
        return AssignResult(num_gt, gt_inds, max_overlaps, labels=labels)

    def _check_inputs(self, pred_instances, num_level_priors, gt_instances, gt_instances_ignore):
        """Validated prior and GT tensors; raise an error that names the problem.

        Raises:
            TypeError: GT boxes not (G, 4) / (G, 5) (e.g. quadrilaterals, (G, 7)), or box
                types that do not go together (rotated GT with horizontal priors or a
                horizontal-only IoU calculator, horizontal GT with rotated priors).
            ValueError: NaN / Inf coordinates, level counts that do not add up to P,
                labels not one per GT.
        """
        priors_t = box_tensor(pred_instances.priors)
        if priors_t.dim() != 2 or priors_t.size(-1) < 4:
            raise TypeError(f'pred_instances.priors must be (P, 4) horizontal or (P, 5) rotated boxes, '
                            f'got shape {tuple(priors_t.shape)}')
        check_boxes('pred_instances.priors', priors_t, (priors_t.size(-1), ))
        gt_t = check_boxes('gt_instances.bboxes', gt_instances.bboxes, (4, 5))
        check_labels(gt_instances.labels, gt_t.size(0))
        check_level_counts(num_level_priors, priors_t.size(0))
        rotated_gt, rotated_priors = gt_t.size(-1) == 5, priors_t.size(-1) == 5
        if rotated_gt and not rotated_priors:
            raise TypeError(f'gt_instances.bboxes are rotated (G, 5) boxes but the priors are horizontal '
                            f'{tuple(priors_t.shape)}: rotated ground truth needs rotated priors (e.g. '
                            "mmrotate's FakeRotatedAnchorGenerator)")
        if rotated_priors and not rotated_gt:
            raise TypeError(f'the priors are rotated (P, 5) boxes but gt_instances.bboxes are horizontal '
                            f'{tuple(gt_t.shape)}: convert the ground truth to rotated boxes '
                            "(mmrotate's ConvertBoxType) or use horizontal priors")
        if rotated_gt and isinstance(self.iou_calculator, BboxOverlaps2D):
            raise TypeError('gt_instances.bboxes are rotated (G, 5) boxes but the iou_calculator is the '
                            'horizontal-only BboxOverlaps2D (it would read the angle as a score column): use '
                            "iou_calculator=dict(type='SparseRBboxOverlaps2D') or mmrotate's RBboxOverlaps2D")
        if not rotated_gt and type(self.iou_calculator).__name__ in _ROTATED_CALCULATORS:
            raise TypeError(f'gt_instances.bboxes are horizontal (G, 4) boxes but the iou_calculator '
                            f'{type(self.iou_calculator).__name__} handles rotated (N, 5) boxes only')
        if gt_instances_ignore is not None and 'bboxes' in gt_instances_ignore:
            check_boxes('gt_instances_ignore.bboxes', gt_instances_ignore.bboxes, (gt_t.size(-1), ))
        return priors_t, gt_t

    def _ignored_priors(self, priors, num_priors: int, ignore_bboxes) -> Tensor:
        """(P,) bool: max IoF of a prior with the ignore boxes exceeds ``ignore_iof_thr``.

        Computed for chunks of priors so the temporary stays within ``max_elems``.
        """
        n_ign = _box_tensor(ignore_bboxes).size(0)
        chunk = max(1, self.max_elems // max(1, n_ign))
        parts = []
        for s in range(0, num_priors, chunk):
            iof = self.iou_calculator(priors[s:s + chunk], ignore_bboxes, mode='iof')
            parts.append(iof.max(dim=1)[0] > self.ignore_iof_thr)
        return torch.cat(parts)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(topk={self.topk}, alpha={self.alpha}, '
                f'iou_calculator={self.iou_calculator}, ignore_iof_thr={self.ignore_iof_thr})')
