"""LPLD as a pluggable adaptation loss of :class:`SourceFreeMeanTeacher` (specs/sfod.md section 1).

Per target image: the teacher's post-NMS RPN proposals are classified by the teacher's RoI head
(weak view); those far from every high-confidence pseudo label (IoU <= 0.4) that pass the
class-relation filter become low-confidence pseudo labels, distilled into the student's RoI
head (strong view) with a KL loss weighted by the RoI-feature distance. The rules themselves are
in :mod:`.lpld_rules`.
"""
from typing import Dict, Tuple

import torch
from mmdet.structures.bbox import bbox2roi
from torch import Tensor, nn

from ...registry import register
from .lpld_rules import lpld_distillation, lpld_keep_mask, teacher_class_boxes


def roi_logits_and_feats(detector: nn.Module, feats: Tuple[Tensor, ...], rois: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Run a two-stage detector's box branch on ``rois``.

    Args:
        detector: a two-stage detector with a standard RoI head.
        feats: its neck outputs.
        rois: (R, 5) ``[batch_index, x1, y1, x2, y2]``.

    Returns:
        logits (R, C + 1), box deltas (R, 4C or 4), and the box predictor's input vectors (R, D)
        (the pooled RoI feature after the shared layers: what the classifier sees).
    """
    bbox_head = detector.roi_head.bbox_head
    captured = {}
    handle = bbox_head.fc_cls.register_forward_pre_hook(lambda m, args: captured.__setitem__('x', args[0]))
    try:
        out = detector.roi_head._bbox_forward(feats, rois)
    finally:
        handle.remove()
    vectors = captured['x'].flatten(1)
    return out['cls_score'], out['bbox_pred'], vectors


@register('MODELS')
class LPLDLoss(nn.Module):
    """Low-confidence pseudo label distillation.

    Args:
        num_proposals: teacher RPN proposals considered per image (the reference's 300).
        iou_thr: a candidate is kept when its IoU with every HPL box is <= this.
        fg_prob_thr, bg_prob_thr: the class-relation filter (max foreground softmax >= 0.9,
            background probability <= 0.99).
        loss_weight: 0.1 in the paper.
    """
    requires_proposals = True

    def __init__(self, num_proposals: int = 300, iou_thr: float = 0.4, fg_prob_thr: float = 0.9,
                 bg_prob_thr: float = 0.99, loss_weight: float = 0.1):
        super().__init__()
        self.num_proposals = num_proposals
        self.iou_thr, self.fg_prob_thr, self.bg_prob_thr = iou_thr, fg_prob_thr, bg_prob_thr
        self.loss_weight = loss_weight

    @torch.no_grad()
    def mine(self, context) -> Dict[str, Tensor]:
        """Teacher-side mining over the batch.

        Returns:
            dict of the K kept proposals: ``rois`` (K, 5) weak-view ``[image, x1, y1, x2, y2]``,
            the teacher's ``logits`` (K, C + 1) and predictor-input ``vectors`` (K, D) there, and
            the low-confidence pseudo labels themselves: ``boxes`` (K, 4) (the teacher's box of its
            class, or the proposal where that class is background) and ``labels`` (K,) (the
            argmax over the foreground classes, the class the distillation target favours).
        """
        teacher = context.teacher
        proposals = [p.bboxes[:self.num_proposals] for p in context.proposals]
        rois = bbox2roi(proposals)
        if rois.shape[0] == 0:
            return dict(rois=rois, logits=rois.new_zeros((0, context.num_classes + 1)),
                        vectors=rois.new_zeros((0, 1)), boxes=rois.new_zeros((0, 4)),
                        labels=rois.new_zeros((0,), dtype=torch.long))
        logits, deltas, vectors = roi_logits_and_feats(teacher, context.teacher_feats, rois)
        bbox_head = teacher.roi_head.bbox_head
        num_fg = context.num_classes
        decoded = bbox_head.bbox_coder.decode(
            rois[:, 1:].repeat_interleave(1 if bbox_head.reg_class_agnostic else num_fg, dim=0),
            deltas.reshape(-1, 4))
        class_boxes = decoded.reshape(len(rois), -1, 4).squeeze(1) if bbox_head.reg_class_agnostic \
            else decoded.reshape(len(rois), num_fg, 4)
        _, boxes = teacher_class_boxes(logits, class_boxes, rois[:, 1:])
        keep = torch.zeros(len(rois), dtype=torch.bool, device=rois.device)
        for i, hpl in enumerate(context.pseudo_labels):
            in_image = rois[:, 0] == i
            keep[in_image] = lpld_keep_mask(logits[in_image], boxes[in_image], hpl.bboxes,
                                            self.iou_thr, self.fg_prob_thr, self.bg_prob_thr)
        return dict(rois=rois[keep], logits=logits[keep], vectors=vectors[keep], boxes=boxes[keep],
                    labels=logits[keep, :-1].argmax(dim=1))

    def forward(self, context) -> Dict[str, Tensor]:
        mined = self.mine(context)
        rois, teacher_logits, teacher_vectors = mined['rois'], mined['logits'], mined['vectors']
        if rois.shape[0] == 0:
            return dict(loss_lpld=context.zero_loss(), num_lpld=torch.tensor(0.))
        student_rois = torch.cat([
            torch.cat([rois[rois[:, 0] == i, :1],
                       context.teacher_to_student(rois[rois[:, 0] == i, 1:], i)], dim=1)
            for i in range(len(context.student_samples))])
        student_logits, _, student_vectors = roi_logits_and_feats(
            context.student, context.student_feats, student_rois)
        loss = lpld_distillation(teacher_logits, student_logits, teacher_vectors, student_vectors,
                                 self.loss_weight)
        return dict(loss_lpld=loss, num_lpld=torch.tensor(float(len(rois)) / len(context.student_samples)))
