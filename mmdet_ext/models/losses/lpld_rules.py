"""LPLD (low-confidence pseudo label distillation, ECCV 2024) as pure tensor functions.

Spec: ``specs/sfod.md`` section 1. No mmcv / mmdet import: the rules run on any device.
Shapes: P proposals of one image, C foreground classes, logits over C + 1 classes with the
background last (MMDetection's convention), G high-confidence pseudo labels (HPL).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou

# Near-zero background mass of the distillation target (the reference's constant).
BACKGROUND_EPS = 1e-9


def teacher_class_boxes(teacher_logits: Tensor, class_boxes: Tensor, proposals: Tensor) -> Tuple[Tensor, Tensor]:
    """The teacher's class and box per proposal.

    Args:
        teacher_logits: (P, C + 1).
        class_boxes: (P, C, 4) decoded boxes per foreground class (x1, y1, x2, y2), or (P, 4)
            for a class-agnostic regressor.
        proposals: (P, 4) the raw proposals, used where the teacher's class is background.

    Returns:
        labels (P,) in [0, C] (C = background) and boxes (P, 4).
    """
    num_fg = teacher_logits.shape[1] - 1
    labels = teacher_logits.argmax(dim=1)
    if class_boxes.dim() == 2:
        boxes = class_boxes.clone()
    else:
        picked = labels.clamp(max=num_fg - 1)
        boxes = class_boxes[torch.arange(len(labels), device=labels.device), picked]
    is_bg = labels == num_fg
    boxes[is_bg] = proposals[is_bg]
    return labels, boxes


def lpld_keep_mask(teacher_logits: Tensor, teacher_boxes: Tensor, hpl_boxes: Tensor,
                   iou_thr: float = 0.4, fg_prob_thr: float = 0.9, bg_prob_thr: float = 0.99) -> Tensor:
    """Which proposals become low-confidence pseudo labels (mining rule + class-relation filter).

    Args:
        teacher_logits: (P, C + 1).
        teacher_boxes: (P, 4) the teacher's box per proposal (``teacher_class_boxes``).
        hpl_boxes: (G, 4) the image's high-confidence pseudo labels, same coordinates.
        iou_thr: keep a proposal only if its IoU with every HPL box is <= this.
        fg_prob_thr: keep if the largest softmax probability over the C foreground logits >= this.
        bg_prob_thr: keep if the background probability of the softmax over all C + 1 <= this.

    Returns:
        (P,) bool. All False when the image has no HPL (the loss skips such an image).
    """
    num = teacher_logits.shape[0]
    if hpl_boxes.numel() == 0 or num == 0:
        return torch.zeros(num, dtype=torch.bool, device=teacher_logits.device)
    far_from_hpl = box_iou(teacher_boxes, hpl_boxes).max(dim=1).values <= iou_thr
    fg_prob = F.softmax(teacher_logits[:, :-1], dim=1).max(dim=1).values
    bg_prob = F.softmax(teacher_logits, dim=1)[:, -1]
    return far_from_hpl & (fg_prob >= fg_prob_thr) & (bg_prob <= bg_prob_thr)


def lpld_distillation(teacher_logits: Tensor, student_logits: Tensor, teacher_feats: Tensor,
                      student_feats: Tensor, loss_weight: float = 0.1) -> Tensor:
    """Feature-distance-weighted KL from the teacher's foreground distribution to the student.

    L = loss_weight * sum_i w_i KL(q_i || s_i) / N, q = [softmax(z_t[:C]), 1e-9], s = softmax(z_s),
    w_i = 1 - cos(f_s, f_t) (detached). Divided by the count N, not by sum w.

    Args:
        teacher_logits, student_logits: (N, C + 1) for the kept proposals.
        teacher_feats, student_feats: (N, D) the box predictor's input vectors.

    Returns:
        A scalar; exactly 0 (and attached to the student's graph) when N = 0.
    """
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0. + student_feats.sum() * 0.
    teacher_logits, teacher_feats = teacher_logits.detach(), teacher_feats.detach()
    fg = F.softmax(teacher_logits[:, :-1], dim=1)
    target = torch.cat([fg, fg.new_full((fg.shape[0], 1), BACKGROUND_EPS)], dim=1)
    kl = (target * (target.log() - F.log_softmax(student_logits, dim=1))).sum(dim=1)
    weight = 1. - F.cosine_similarity(student_feats, teacher_feats, dim=1).detach()
    return loss_weight * (weight * kl).sum() / student_logits.shape[0]
