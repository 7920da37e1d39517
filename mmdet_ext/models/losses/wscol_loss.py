"""WSCoL as a pluggable adaptation loss of :class:`SourceFreeMeanTeacher` (specs/sfod.md section 2).

Per step, on the teacher's post-NMS RPN proposals (weak view for the teacher, the same boxes
projected to the strong view for the student):

1. weak-to-strong logit distillation KL(softmax(z_t) || softmax(z_s)) over all proposals;
2. a per-class FIFO memory bank of the teacher's RoI features at the high-confidence pseudo
   labels (HPL); prototypes = class means of the mapped bank (0.6 / 0.4 update);
3. prototype-guided (SHOT-style) clustering of the teacher-side proposal embeddings, blended
   with clustering of the raw features during the first epoch, HPL-matched proposals forced to
   the HPL class: one label per proposal (background = C);
4. a supervised contrastive loss on the student's strong-view embeddings, positives = same
   label and a teacher-space neighbour (background anchors: every background sample); images
   whose proposals look uncertain (NMS-count variance > 20) contrast foreground samples only.

The mapping network and the memory live here (registered buffers: saved in checkpoints, restored
by --resume), not inside the student, so the teacher's EMA pairing with the student stays exact.
The rules are in :mod:`.wscol_rules`.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox2roi
from torch import Tensor, nn

from ...registry import register
from .wscol_rules import (blend_distances, cluster_distances, contrast_background, force_hpl_labels,
                          memory_bank_push, memory_bank_read, nms_count_variance, supcon_loss,
                          supcon_positives, teacher_neighbours, update_prototypes,
                          weak_to_strong_distillation)


def roi_head_inputs(detector: nn.Module, feats: Tuple[Tensor, ...], rois: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Run a two-stage detector's box branch on ``rois`` and capture its inputs.

    Args:
        detector: a two-stage detector with a standard RoI head.
        feats: its neck (or backbone) outputs.
        rois: (R, 5) ``[batch_index, x1, y1, x2, y2]``.

    Returns:
        logits (R, C + 1); the box head's input maps (R, C_in, S, S) (the pooled RoI feature,
        after the shared head of a C4 detector); the box predictor's input vectors (R, D).
    """
    bbox_head = detector.roi_head.bbox_head
    captured = {}
    hooks = [bbox_head.register_forward_pre_hook(lambda m, args: captured.__setitem__('maps', args[0])),
             bbox_head.fc_cls.register_forward_pre_hook(lambda m, args: captured.__setitem__('vectors', args[0]))]
    try:
        out = detector.roi_head._bbox_forward(feats, rois)
    finally:
        for hook in hooks:
            hook.remove()
    return out['cls_score'], captured['maps'], captured['vectors'].flatten(1)


class WSCoLMappingNet(nn.Module):
    """RoI feature -> 3 x (3x3 conv, BN, ReLU) -> fc -> ReLU -> fc to the classifier's input width
    (the shared space) -> ReLU -> fc to the contrastive embedding.

    Args:
        in_channels, roi_size: the RoI feature maps (R, in_channels, roi_size, roi_size).
        shared_channels: the box predictor's input width D.
        conv_channels, fc_channels: hidden widths.
        embed_dims: the contrastive embedding (512 in WSCoL).
    """

    def __init__(self, in_channels: int, roi_size: int, shared_channels: int, conv_channels: int = 256,
                 fc_channels: int = 1024, embed_dims: int = 512):
        super().__init__()
        layers, channels = [], in_channels
        for _ in range(3):
            layers += [nn.Conv2d(channels, conv_channels, 3, padding=1, bias=False),
                       nn.BatchNorm2d(conv_channels), nn.ReLU(inplace=True)]
            channels = conv_channels
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(conv_channels * roi_size * roi_size, fc_channels)
        self.fc_shared = nn.Linear(fc_channels, shared_channels)
        self.fc_embed = nn.Linear(shared_channels, embed_dims)
        self.in_shape = (in_channels, roi_size, roi_size)

    def shared(self, maps: Tensor) -> Tensor:
        """(R, C_in, S, S) -> (R, D): the feature in the classifier's input space."""
        if tuple(maps.shape[1:]) != self.in_shape:
            raise ValueError(f'WSCoL mapping network expects RoI features (R, {", ".join(map(str, self.in_shape))}), '
                             f'received {tuple(maps.shape)}: set in_channels / roi_size to the detector\'s box head input')
        x = self.convs(maps).flatten(1)
        return self.fc_shared(F.relu(self.fc(x)))

    def forward(self, maps: Tensor) -> Tensor:
        """(R, C_in, S, S) -> (R, E)."""
        return self.fc_embed(F.relu(self.shared(maps)))


@register('MODELS')
class WSCoLLoss(nn.Module):
    """Weak-to-strong contrastive learning.

    Args:
        num_classes: foreground classes C.
        in_channels, roi_size: the box head's input maps (Shared2FC FPN head: the RoI extractor's
            channels and 7; C4: 2048 after res5 and 7).
        shared_channels: the box predictor's input width (fc_out_channels; 2048 for C4).
        conv_channels, fc_channels, embed_dims: the mapping network's widths.
        memory_length: features per class in the FIFO memory bank (10).
        prototype_keep: the prototype's share in its update (0.6).
        num_proposals: teacher RPN proposals per image (300).
        cluster_iters: hard-assignment iterations of the clustering (4).
        hpl_iou_thr: proposals with IoU >= this to an HPL take its class (0.5).
        num_neighbours: teacher-space nearest neighbours that may be positives.
        temperature: SupCon temperature (0.07).
        objectness_thr, variance_thr: the uncertainty estimator (proposals with objectness > 0.5;
            background joins the contrast when the NMS-count variance <= 20).
        min_foreground: fewer foreground samples in the batch skip the contrast (3).
        contrast_weight, distill_weight: 0.5 and 1.
    """
    requires_proposals = True

    def __init__(self, num_classes: int, in_channels: int, shared_channels: int, roi_size: int = 7,
                 conv_channels: int = 256, fc_channels: int = 1024, embed_dims: int = 512,
                 memory_length: int = 10, prototype_keep: float = 0.6, num_proposals: int = 300,
                 cluster_iters: int = 4, hpl_iou_thr: float = 0.5, num_neighbours: int = 10,
                 temperature: float = 0.07, objectness_thr: float = 0.5, variance_thr: float = 20.,
                 min_foreground: int = 3, contrast_weight: float = 0.5, distill_weight: float = 1.0):
        super().__init__()
        self.num_classes = num_classes
        self.mapping = WSCoLMappingNet(in_channels, roi_size, shared_channels, conv_channels, fc_channels,
                                       embed_dims)
        self.shared_channels = shared_channels
        self.prototype_keep, self.num_proposals, self.cluster_iters = prototype_keep, num_proposals, cluster_iters
        self.hpl_iou_thr, self.num_neighbours, self.temperature = hpl_iou_thr, num_neighbours, temperature
        self.objectness_thr, self.variance_thr, self.min_foreground = objectness_thr, variance_thr, min_foreground
        self.contrast_weight, self.distill_weight = contrast_weight, distill_weight
        # Buffers, not attributes: checkpoints carry them and --resume restores them.
        self.register_buffer('bank', torch.zeros(num_classes, memory_length, in_channels, roi_size, roi_size))
        self.register_buffer('bank_filled', torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer('bank_head', torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer('prototypes', torch.zeros(num_classes, embed_dims))
        self.register_buffer('prototype_initialized', torch.zeros(num_classes, dtype=torch.bool))

    # ------------------------------------------------------------------------ pieces
    @staticmethod
    def blend_rate(progress: Dict[str, int]) -> float:
        """rho = progress through the first epoch (1 afterwards, and when unknown)."""
        epoch_iters = progress.get('epoch_iters')
        if not epoch_iters or 'iter' not in progress:
            return 1.
        return min(1., progress['iter'] / epoch_iters)

    @torch.no_grad()
    def update_memory(self, teacher: nn.Module, teacher_feats, pseudo_labels) -> None:
        """Push the teacher's RoI features at the HPL into the bank; refresh the prototypes."""
        rois = bbox2roi([p.bboxes for p in pseudo_labels])
        if rois.shape[0] == 0:
            return
        _, maps, _ = roi_head_inputs(teacher, teacher_feats, rois)
        labels = torch.cat([p.labels for p in pseudo_labels]).long()
        memory_bank_push(self.bank, self.bank_filled, self.bank_head, maps, labels)
        feats, bank_labels = memory_bank_read(self.bank, self.bank_filled, self.bank_head)
        update_prototypes(self.prototypes, self.prototype_initialized, self.mapping(feats), bank_labels,
                          self.prototype_keep)

    @torch.no_grad()
    def cluster(self, embeddings: Tensor, vectors: Tensor, logits: Tensor, rois: Tensor, pseudo_labels,
                rho: float = 1.) -> Tensor:
        """One label per proposal (background = C): prototype-guided clustering of the teacher
        embeddings, blended with raw-feature clustering while rho < 1, HPL-matched forced.

        Args:
            embeddings: (R, E) teacher-side embeddings. vectors: (R, D) the teacher's predictor
            inputs (raw features). logits: (R, C + 1) teacher logits. rois: (R, 5) weak view.
            pseudo_labels: the HPL per image (weak view).
        """
        probs = F.softmax(logits.float(), dim=1)
        centroids = mask = None
        if bool(self.prototype_initialized.all()):
            # Prototypes replace the foreground centroids once every class has one.
            centroids = torch.cat([self.prototypes, self.prototypes.new_zeros((1, self.prototypes.shape[1]))])
            mask = torch.cat([self.prototype_initialized, self.prototype_initialized.new_zeros(1)])
        dist = cluster_distances(embeddings, probs, centroids, mask, self.cluster_iters)
        if rho < 1.:
            dist = blend_distances(cluster_distances(vectors, probs, num_iters=self.cluster_iters), dist, rho)
        labels = dist.argmin(dim=1)
        for i, hpl in enumerate(pseudo_labels):
            in_image = rois[:, 0] == i
            labels[in_image] = force_hpl_labels(labels[in_image], rois[in_image, 1:], hpl.bboxes, hpl.labels,
                                                self.hpl_iou_thr)
        return labels

    def uncertain_images(self, proposals) -> Tuple[Tensor, Tensor]:
        """Per image: the NMS-count variance of confident proposals and whether it exceeds the switch."""
        variances = []
        for p in proposals:
            keep = p.scores > self.objectness_thr
            variances.append(nms_count_variance(p.bboxes[keep], p.scores[keep]))
        variances = torch.tensor(variances)
        uncertain = torch.tensor([not contrast_background(v, self.variance_thr) for v in variances.tolist()])
        return variances, uncertain

    def _zero(self, context) -> Tensor:
        # Attached to the student and to the mapping network (DDP needs every parameter used).
        return context.zero_loss() + sum(p.sum() for p in self.mapping.parameters()) * 0.

    # ----------------------------------------------------------------------- forward
    def forward(self, context) -> Dict[str, Tensor]:
        if context.num_classes != self.num_classes:
            raise ValueError(f'WSCoLLoss was built for num_classes={self.num_classes}, the detector has '
                             f'{context.num_classes}')
        num_images = len(context.student_samples)
        proposals = [p.bboxes[:self.num_proposals] for p in context.proposals]
        rois = bbox2roi(proposals)
        if rois.shape[0] == 0:
            zero = self._zero(context)
            return dict(loss_wscol_distill=zero, loss_wscol_con=zero.clone(), num_wscol_fg=torch.tensor(0.))
        with torch.no_grad():
            t_logits, t_maps, t_vectors = roi_head_inputs(context.teacher, context.teacher_feats, rois)
        if t_vectors.shape[1] != self.shared_channels:
            raise ValueError(f'WSCoLLoss: shared_channels={self.shared_channels} but the box predictor '
                             f'takes {t_vectors.shape[1]} features')
        student_rois = torch.cat([
            torch.cat([rois[rois[:, 0] == i, :1], context.teacher_to_student(rois[rois[:, 0] == i, 1:], i)], dim=1)
            for i in range(num_images)])
        s_logits, s_maps, _ = roi_head_inputs(context.student, context.student_feats, student_rois)
        losses = dict(loss_wscol_distill=self.distill_weight * weak_to_strong_distillation(t_logits, s_logits))

        if sum(len(p) for p in context.pseudo_labels) == 0:
            losses.update(loss_wscol_con=self._zero(context), num_wscol_fg=torch.tensor(0.))
            return losses
        self.update_memory(context.teacher, context.teacher_feats, context.pseudo_labels)
        with torch.no_grad():
            t_emb = self.mapping(t_maps)
        labels = self.cluster(t_emb, t_vectors, t_logits, rois, context.pseudo_labels,
                              self.blend_rate(context.progress))
        variances, uncertain = self.uncertain_images(context.proposals)
        foreground = labels < self.num_classes
        selected = foreground | ~uncertain.to(labels.device)[rois[:, 0].long()]
        num_fg = int(foreground.sum())
        losses.update(num_wscol_fg=torch.tensor(float(num_fg) / num_images),
                      wscol_nms_variance=variances.mean())
        if num_fg < self.min_foreground:
            losses['loss_wscol_con'] = self._zero(context)
            return losses
        neighbours = teacher_neighbours(t_emb[selected], self.num_neighbours)
        positives = supcon_positives(labels[selected], neighbours, self.num_classes)
        s_emb = self.mapping(s_maps[selected])
        losses['loss_wscol_con'] = self.contrast_weight * supcon_loss(s_emb, positives, self.temperature)
        return losses
