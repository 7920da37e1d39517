"""WSCoL (weak-to-strong contrastive learning, arXiv 2410.05557) as pure tensor functions.

Spec: ``specs/sfod.md`` section 2. No mmcv / mmdet import: the rules run on any device.
Shapes: C foreground classes, labels in [0, C] with C = background (MMDetection's convention),
P proposals, E the width of an embedding, L the memory length per class.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou, nms

# NMS IoU thresholds of the uncertainty estimator: 0, 0.1, ..., 0.5.
VARIANCE_IOU_THRS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


# ----------------------------------------------------------------------------- memory bank
def memory_bank_push(bank: Tensor, filled: Tensor, head: Tensor, feats: Tensor, labels: Tensor) -> None:
    """In place: append ``feats`` to their class's FIFO, evicting the oldest entry when full.

    Args:
        bank: (C, L, ...) stored features.
        filled: (C,) long, how many slots of each class hold a feature (<= L).
        head: (C,) long, the slot of each class written next (the oldest one once full).
        feats: (n, ...) new features, same trailing shape as ``bank``.
        labels: (n,) long in [0, C).
    """
    num_classes, length = bank.shape[:2]
    if feats.shape[1:] != bank.shape[2:]:
        raise ValueError(f'memory bank stores features of shape {tuple(bank.shape[2:])}, '
                         f'received {tuple(feats.shape[1:])}')
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'memory bank labels must be in [0, {num_classes}), received '
                         f'[{int(labels.min())}, {int(labels.max())}]')
    for feat, label in zip(feats.detach(), labels.tolist()):
        slot = int(head[label])
        bank[label, slot] = feat
        head[label] = (slot + 1) % length
        filled[label] = min(int(filled[label]) + 1, length)


def memory_bank_read(bank: Tensor, filled: Tensor, head: Tensor) -> Tuple[Tensor, Tensor]:
    """All stored features, oldest first within each class.

    Returns:
        feats (M, ...) and labels (M,) long, M = filled.sum().
    """
    length = bank.shape[1]
    feats, labels = [], []
    for label in range(bank.shape[0]):
        count = int(filled[label])
        if count == 0:
            continue
        start = int(head[label]) if count == length else 0
        order = [(start + k) % length for k in range(count)]
        feats.append(bank[label, order])
        labels.append(torch.full((count,), label, dtype=torch.long, device=bank.device))
    if not feats:
        return bank.new_zeros((0, *bank.shape[2:])), torch.zeros(0, dtype=torch.long, device=bank.device)
    return torch.cat(feats), torch.cat(labels)


def update_prototypes(prototypes: Tensor, initialized: Tensor, feats: Tensor, labels: Tensor,
                      keep: float = 0.6) -> None:
    """In place: per class present in ``labels``, p <- mean on first sight, else keep·p + (1 - keep)·mean.

    Args:
        prototypes: (C, E).
        initialized: (C,) bool, which classes have a prototype.
        feats: (M, E) mapped memory features.
        labels: (M,) long in [0, C).
        keep: the prototype's share (0.6 in WSCoL).
    """
    for label in labels.unique().tolist():
        mean = feats[labels == label].detach().mean(dim=0)
        if bool(initialized[label]):
            prototypes[label] = keep * prototypes[label] + (1. - keep) * mean
        else:
            prototypes[label] = mean
            initialized[label] = True


# ------------------------------------------------------------------------------ clustering
def _shot_normalise(feats: Tensor) -> Tensor:
    """SHOT's feature map: append a constant 1, then L2-normalise."""
    return F.normalize(torch.cat([feats, feats.new_ones((feats.shape[0], 1))], dim=1), dim=1)


def cluster_distances(feats: Tensor, probs: Tensor, centroids: Optional[Tensor] = None,
                      centroid_mask: Optional[Tensor] = None, num_iters: int = 4) -> Tensor:
    """SHOT-style clustering of proposals into C + 1 classes; the final cosine distances.

    Initial centroids are the ``probs``-weighted means of the (normalised) features; where
    ``centroids`` is given (rows with ``centroid_mask`` True), those replace them (WSCoL's
    prototypes). Classes take part when they have a given centroid or are the argmax of at
    least one proposal ("the classes present"); then ``num_iters`` hard-assignment rounds
    (assign by distance, recompute each centroid as the mean of its members; a class left
    without members keeps its centroid).

    Args:
        feats: (P, E) proposal features.
        probs: (P, K) class probabilities (K = C + 1, background last).
        centroids: (K, E) given centroids in the raw feature space, or None.
        centroid_mask: (K,) bool, which rows of ``centroids`` are valid (default all).
        num_iters: hard-assignment iterations.

    Returns:
        (P, K) cosine distances to the final centroids; +inf for classes not present.
    """
    num, num_classes = probs.shape
    if feats.shape[0] != num:
        raise ValueError(f'cluster_distances: {feats.shape[0]} features but {num} probability rows')
    x = _shot_normalise(feats.detach().float())
    probs = probs.detach().float()
    init = probs.t() @ x / (probs.sum(dim=0)[:, None] + 1e-8)
    present = torch.zeros(num_classes, dtype=torch.bool, device=feats.device)
    if num:
        present[probs.argmax(dim=1).unique()] = True
    if centroids is not None:
        if centroids.shape != (num_classes, feats.shape[1]):
            raise ValueError(f'centroids must be ({num_classes}, {feats.shape[1]}), received {tuple(centroids.shape)}')
        mask = torch.ones(num_classes, dtype=torch.bool, device=feats.device) if centroid_mask is None \
            else centroid_mask.bool()
        init[mask] = _shot_normalise(centroids.detach().float())[mask]
        present |= mask
    centre = F.normalize(init, dim=1)
    inf = torch.tensor(float('inf'), device=feats.device)

    def distances(c):
        return torch.where(present[None, :], 1. - x @ c.t(), inf)

    for _ in range(num_iters):
        assign = distances(centre).argmin(dim=1)
        onehot = F.one_hot(assign, num_classes).float()
        counts = onehot.sum(dim=0)
        means = onehot.t() @ x / counts.clamp(min=1)[:, None]
        centre = torch.where((counts > 0)[:, None], F.normalize(means, dim=1), centre)
    return distances(centre)


def blend_distances(d_raw: Tensor, d_proto: Tensor, rho: float) -> Tensor:
    """Adaptation-aware blend (1 - rho)·d_raw + rho·d_proto over the classes both have.

    Where no class is present in both, ``d_proto`` is returned unchanged.
    """
    if rho >= 1.:
        return d_proto
    both = torch.isfinite(d_raw) & torch.isfinite(d_proto)
    if not both.any():
        return d_proto
    blended = (1. - rho) * d_raw.masked_fill(~both, 0.) + rho * d_proto.masked_fill(~both, 0.)
    return blended.masked_fill(~both, float('inf'))


def force_hpl_labels(labels: Tensor, proposals: Tensor, hpl_boxes: Tensor, hpl_labels: Tensor,
                     iou_thr: float = 0.5) -> Tensor:
    """Proposals overlapping a high-confidence pseudo label (IoU >= ``iou_thr``) take its class
    (the best-overlapping one).

    Args:
        labels: (P,) cluster labels. proposals: (P, 4). hpl_boxes: (G, 4). hpl_labels: (G,).

    Returns:
        (P,) a new label tensor.
    """
    labels = labels.clone()
    if hpl_boxes.numel() == 0 or proposals.numel() == 0:
        return labels
    best, index = box_iou(proposals, hpl_boxes).max(dim=1)
    matched = best >= iou_thr
    labels[matched] = hpl_labels[index[matched]].to(labels.dtype)
    return labels


# ------------------------------------------------------------------------------ contrast
def teacher_neighbours(teacher_emb: Tensor, num_neighbours: int) -> Tensor:
    """(N, N) bool: j is among the ``num_neighbours`` nearest (cosine) samples of i, j != i."""
    num = teacher_emb.shape[0]
    mask = torch.zeros(num, num, dtype=torch.bool, device=teacher_emb.device)
    k = min(num_neighbours, num - 1)
    if k <= 0:
        return mask
    emb = F.normalize(teacher_emb.detach().float(), dim=1)
    sim = emb @ emb.t()
    sim.fill_diagonal_(-float('inf'))
    mask.scatter_(1, sim.topk(k, dim=1).indices, True)
    return mask


def supcon_positives(labels: Tensor, neighbours: Tensor, background: int) -> Tensor:
    """(N, N) bool positives: same label and a teacher neighbour; background anchors take
    every other background sample."""
    same = labels[:, None] == labels[None, :]
    same.fill_diagonal_(False)
    is_bg = (labels == background)[:, None]
    return torch.where(is_bg, same, same & neighbours)


def supcon_loss(embeddings: Tensor, positives: Tensor, temperature: float = 0.07) -> Tensor:
    """Supervised contrastive loss (Khosla et al.) on L2-normalised embeddings.

    For anchor i with positives P(i): -1/|P(i)| sum_p log(exp(s_ip / T) / sum_{a != i} exp(s_ia / T)),
    averaged over anchors that have a positive. Scale-invariant (the embeddings are normalised).

    Args:
        embeddings: (N, E) student embeddings (with gradient).
        positives: (N, N) bool.

    Returns:
        A scalar; 0 attached to ``embeddings`` when no anchor has a positive.
    """
    num = embeddings.shape[0]
    if positives.shape != (num, num):
        raise ValueError(f'positives must be ({num}, {num}), received {tuple(positives.shape)}')
    positives = positives.clone()
    positives.fill_diagonal_(False)
    has_pos = positives.any(dim=1)
    if num < 2 or not has_pos.any():
        return embeddings.sum() * 0.
    emb = F.normalize(embeddings, dim=1)
    logits = emb @ emb.t() / temperature
    self_mask = torch.eye(num, dtype=torch.bool, device=emb.device)
    logits = logits.masked_fill(self_mask, -float('inf'))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = positives.float()
    per_anchor = -(log_prob.masked_fill(self_mask, 0.) * pos).sum(dim=1) / pos.sum(dim=1).clamp(min=1)
    return per_anchor[has_pos].mean()


# ---------------------------------------------------------------------------- uncertainty
def nms_count_variance(boxes: Tensor, scores: Tensor, iou_thrs: Sequence[float] = VARIANCE_IOU_THRS) -> float:
    """Population variance of the number of boxes NMS keeps at each IoU threshold.

    Args:
        boxes: (n, 4) xyxy, e.g. the teacher's proposals with objectness > 0.5. scores: (n,).
    """
    if boxes.shape[0] == 0:
        return 0.
    counts = torch.tensor([float(len(nms(boxes.float(), scores.float(), thr))) for thr in iou_thrs])
    return float(counts.var(unbiased=False))


def contrast_background(variance: float, threshold: float = 20.) -> bool:
    """Whether background proposals join the contrast: no when the image is uncertain (v > 20)."""
    return variance <= threshold


def weak_to_strong_distillation(teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
    """KL(softmax(z_t) || softmax(z_s)) summed over classes, averaged over the (R,) proposals."""
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0.
    target = F.softmax(teacher_logits.detach(), dim=1)
    return F.kl_div(F.log_softmax(student_logits, dim=1), target, reduction='batchmean')
