"""NSA's light-disturbance consistency and prototype contrast as an adaptation module
(specs/sfod.md section 3) of :class:`DomainAdaptiveMeanTeacher`.

Per batch of target images, with the teacher's weak view (reference) and the student's lightly
disturbed view (``unsup_light``: small resize / shift / flip, homography recorded):

- internal consistency: MSE between the instance-normalised teacher feature maps and the
  student's maps warped back onto the teacher grid, weighted by the in-box (teacher pseudo
  labels) and salient-peak masks (background 0, cells that leave the view 0); MSE between the
  instance-normalised pooled RoI features of the teacher's proposals and of the same proposals
  mapped into the view (dropped by the spec's rules; foreground 1, background 0.01);
- external consistency: MSE of the RPN objectness probabilities and box-delta maps (warped back,
  deltas re-expressed in the reference view), and of RoI class probabilities and box deltas
  (sign-flipped under flips) of foreground proposals;
- prototype contrast on the pixel features (in-box cells of one level) and on the RoI
  predictor-input vectors.
Weights: L = 6 (2 MSE_pix + 0.1 C_pix + MSE_ins + 0.1 C_ins + 0.1 (ECA_maps + ECA_vectors)), x 0.1.
The pure rules live in :mod:`.nsa_rules`. The heavy disturbance needs no module: it is the
student's pseudo-label branch with a geometric + photometric view (boxes projected by the detector).
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import bbox2roi, bbox_overlaps
from torch import Tensor, nn

from ...registry import register
from .nsa_rules import (axis_scales, box_label_map, box_mask, combine_nsa_terms, drop_mapped_boxes,
                        flip_roi_feats, instance_norm, map_boxes, masked_mse, prototype_contrast,
                        roi_deltas_to_reference, rpn_deltas_to_reference, salient_peak_mask,
                        warp_to_reference, weighted_roi_mse)


def _homography(sample, device) -> Tensor:
    matrix = sample.metainfo.get('homography_matrix')
    if matrix is None:
        return torch.eye(3, device=device)
    return torch.as_tensor(matrix, dtype=torch.float32, device=device)


def roi_forward(detector: nn.Module, feats: Tuple[Tensor, ...], rois: Tensor
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """A two-stage detector's RoI branch on ``rois`` (R, 5).

    Returns:
        pooled RoI features (R, C, k, k) (the extractor's output), logits (R, K + 1), deltas
        (R, 4K or 4) and the box predictor's input vectors (R, D).
    """
    roi_head = detector.roi_head
    extractor = roi_head.bbox_roi_extractor
    pooled = extractor(feats[:extractor.num_inputs], rois)
    x = roi_head.shared_head(pooled) if roi_head.with_shared_head else pooled
    captured = {}
    handle = roi_head.bbox_head.fc_cls.register_forward_pre_hook(
        lambda m, args: captured.__setitem__('x', args[0]))
    try:
        logits, deltas = roi_head.bbox_head(x)
    finally:
        handle.remove()
    return pooled, logits, deltas, captured['x'].flatten(1)


@register('MODELS')
class NSAConsistencyLoss(nn.Module):
    """Args:
        num_proposals: teacher proposals per image used at instance level (the top-scoring ones).
        min_visible, min_size, max_area_frac: the dropping rules of mapped proposals.
        fg_iou: a proposal is foreground (with that pseudo label's class) at IoU >= this with a
            teacher pseudo label; else background.
        roi_bg_weight: weight of background RoIs in the RoI-feature MSE (foreground 1).
        pix_contrast_level: feature level of the pixel contrast; max_pix_samples: foreground and
            background cells per image taken there (evenly spaced).
        weights: overrides of :data:`nsa_rules.NSA_DEFAULT_WEIGHTS`.
        num_hard_background, background_weight, negative_scale: prototype-contrast negatives.
    """
    requires_proposals = True
    requires_light_view = True

    def __init__(self, num_proposals: int = 128, min_visible: float = 0.6, min_size: float = 10.,
                 max_area_frac: float = 0.75, fg_iou: float = 0.5, roi_bg_weight: float = 0.01,
                 pix_contrast_level: int = 0, max_pix_samples: int = 64, weights: Optional[dict] = None,
                 num_hard_background: int = 2, background_weight: float = 0.1, negative_scale: float = 2.):
        super().__init__()
        self.num_proposals = num_proposals
        self.drop_rules = dict(min_visible=min_visible, min_size=min_size, max_area_frac=max_area_frac)
        self.fg_iou, self.roi_bg_weight = fg_iou, roi_bg_weight
        self.pix_contrast_level, self.max_pix_samples = pix_contrast_level, max_pix_samples
        self.weights = dict(weights or {})
        combine_nsa_terms({k: torch.zeros(()) for k in ('mse_pix', 'contrast_pix', 'mse_ins', 'contrast_ins',
                                                         'eca_maps', 'eca_vectors')}, self.weights)  # validate
        self.contrast_cfg = dict(num_hard_background=num_hard_background,
                                 background_weight=background_weight, negative_scale=negative_scale)

    # --------------------------------------------------------------------------------- forward
    def forward(self, context) -> Dict[str, Tensor]:
        if getattr(context, 'light_inputs', None) is None:
            raise ValueError('NSAConsistencyLoss needs the light view (pipeline branch '
                             "'unsup_light' with NSALightDisturb) in a DomainAdaptiveMeanTeacher")
        teacher, student = context.teacher, context.student
        t_samples, l_samples = context.teacher_samples, context.light_samples
        device = context.light_inputs.device
        matrices = torch.stack([_homography(l, device) @ torch.linalg.inv(_homography(t, device))
                                for t, l in zip(t_samples, l_samples)])  # teacher px -> light px
        scales = axis_scales(matrices)
        light_hw = [tuple(s.img_shape[:2]) for s in l_samples]
        t_batch_w = t_samples[0].batch_input_shape[1]
        l_batch_w = context.light_inputs.shape[-1]

        s_feats = student.extract_feat(context.light_inputs)
        t_feats = context.teacher_feats
        strides = [(t_batch_w / t.shape[-1], l_batch_w / s.shape[-1]) for t, s in zip(t_feats, s_feats)]
        hpl_boxes = [p.bboxes for p in context.pseudo_labels]
        hpl_labels = [p.labels for p in context.pseudo_labels]

        terms, logs = {}, {}
        terms['mse_pix'], terms['contrast_pix'] = self._pixel_terms(
            t_feats, s_feats, strides, matrices, light_hw, hpl_boxes, hpl_labels, context.num_classes)
        terms['eca_maps'] = self._rpn_map_terms(teacher, student, t_feats, s_feats, strides, matrices,
                                                scales, light_hw)
        ins = self._instance_terms(context, teacher, student, t_feats, s_feats, matrices, scales, light_hw)
        terms.update(ins['terms'])
        losses = combine_nsa_terms(terms, self.weights)
        for name, value in terms.items():
            losses[f'nsa_{name}'] = value.detach()
        losses['nsa_internal_mse'] = (terms['mse_pix'] + terms['mse_ins']).detach()
        losses['nsa_num_rois'] = torch.tensor(float(ins['num_rois']) / len(l_samples))
        losses['nsa_num_fg_rois'] = torch.tensor(float(ins['num_fg']) / len(l_samples))
        return losses

    # ------------------------------------------------------------------------------ internals
    def _pixel_terms(self, t_feats, s_feats, strides, matrices, light_hw, hpl_boxes, hpl_labels,
                     num_classes) -> Tuple[Tensor, Tensor]:
        mses = []
        contrast = None
        for level, (tf, sf, (t_stride, s_stride)) in enumerate(zip(t_feats, s_feats, strides)):
            ref_hw = tuple(tf.shape[-2:])
            # Normalise each view in its own frame, then warp the student back.
            warped, valid = warp_to_reference(instance_norm(sf), matrices, ref_hw, t_stride, s_stride, light_hw)
            t_norm = instance_norm(tf)
            in_box = box_mask(hpl_boxes, ref_hw, t_stride) if len(hpl_boxes) else torch.zeros_like(valid)
            weight = torch.maximum(in_box.to(valid), salient_peak_mask(tf)) * valid
            mses.append(masked_mse(t_norm, warped, weight))
            if level == self.pix_contrast_level:
                labels = box_label_map(hpl_boxes, hpl_labels, ref_hw, t_stride, num_classes)
                contrast = self._pixel_contrast(t_norm, warped, labels, weight, valid, num_classes)
        return torch.stack(mses).mean(), contrast

    def _pixel_contrast(self, t_norm, warped, labels, weight, valid, num_classes) -> Tensor:
        t_vecs, s_vecs, labs = [], [], []
        for i in range(t_norm.shape[0]):
            ok = valid[i, 0] > 0
            fg = (ok & (labels[i] < num_classes)).flatten().nonzero().squeeze(1)
            bg = (ok & (labels[i] == num_classes) & (weight[i, 0] == 0)).flatten().nonzero().squeeze(1)
            for idx in (fg, bg):
                if len(idx) > self.max_pix_samples:  # evenly spaced: deterministic, covers the image
                    idx = idx[torch.linspace(0, len(idx) - 1, self.max_pix_samples, device=idx.device).long()]
                t_vecs.append(t_norm[i].flatten(1)[:, idx].T)
                s_vecs.append(warped[i].flatten(1)[:, idx].T)
                labs.append(labels[i].flatten()[idx])
        return prototype_contrast(torch.cat(s_vecs), torch.cat(t_vecs), torch.cat(labs), num_classes,
                                  **self.contrast_cfg)

    def _rpn_map_terms(self, teacher, student, t_feats, s_feats, strides, matrices, scales, light_hw) -> Tensor:
        with torch.no_grad():
            t_cls, t_reg = teacher.rpn_head(t_feats)
        s_cls, s_reg = student.rpn_head(s_feats)
        stds = tuple(getattr(student.rpn_head.bbox_coder, 'stds', (1., 1., 1., 1.)))
        cls_terms, reg_terms = [], []
        for tc, tr, sc, sr, (t_stride, s_stride) in zip(t_cls, t_reg, s_cls, s_reg, strides):
            ref_hw = tuple(tc.shape[-2:])
            if tc.shape[1] != sc.shape[1]:
                raise ValueError(f'RPN objectness channels differ: teacher {tc.shape[1]}, student {sc.shape[1]}')
            t_prob = tc.sigmoid()
            s_prob, valid = warp_to_reference(sc.sigmoid(), matrices, ref_hw, t_stride, s_stride, light_hw)
            cls_terms.append(masked_mse(t_prob, s_prob, valid))
            s_delta, _ = warp_to_reference(sr, matrices, ref_hw, t_stride, s_stride, light_hw)
            s_delta = rpn_deltas_to_reference(s_delta, scales, stds)
            n, a = t_prob.shape[:2]
            # Box maps only where the teacher sees an object (per anchor), inside the view.
            w = ((t_prob > 0.5).to(t_prob) * valid)[:, :, None]  # (N, A, 1, H, W)
            diff = (tr - s_delta).reshape(n, a, 4, *ref_hw).pow(2) * w
            reg_terms.append(diff.sum() / (w.sum() * 4) if w.sum() > 0 else s_delta.sum() * 0.)
        return torch.stack(cls_terms).mean() + torch.stack(reg_terms).mean()

    def _instance_terms(self, context, teacher, student, t_feats, s_feats, matrices, scales, light_hw) -> dict:
        t_boxes, s_boxes, labels, roi_scales = [], [], [], []
        num_classes = context.num_classes
        for i, proposals in enumerate(context.proposals):
            props = proposals.bboxes[:self.num_proposals]
            clipped, keep = drop_mapped_boxes(map_boxes(props, matrices[i]), light_hw[i], **self.drop_rules)
            s_b = clipped[keep]
            # The teacher RoI covers exactly what the clipped student RoI sees.
            t_b = map_boxes(s_b, torch.linalg.inv(matrices[i]))
            lab = torch.full((len(t_b),), num_classes, dtype=torch.long, device=props.device)
            hpl = context.pseudo_labels[i]
            if len(hpl) and len(t_b):
                best, index = bbox_overlaps(t_b, hpl.bboxes).max(dim=1)
                fg = best >= self.fg_iou
                lab[fg] = hpl.labels[index[fg]]
            t_boxes.append(t_b)
            s_boxes.append(s_b)
            labels.append(lab)
            roi_scales.append(scales[i:i + 1].expand(len(t_b), 2))
        labels = torch.cat(labels)
        roi_scales = torch.cat(roi_scales)
        if labels.numel() == 0:
            zero = sum(f.sum() for f in s_feats) * 0.
            return dict(terms=dict(mse_ins=zero, contrast_ins=zero, eca_vectors=zero), num_rois=0, num_fg=0)
        with torch.no_grad():
            t_pooled, t_logits, t_deltas, t_vecs = roi_forward(teacher, t_feats, bbox2roi(t_boxes))
        s_pooled, s_logits, s_deltas, s_vecs = roi_forward(student, s_feats, bbox2roi(s_boxes))
        fg = labels < num_classes
        weight = torch.where(fg, 1., self.roi_bg_weight).to(t_pooled)
        mse_ins = weighted_roi_mse(instance_norm(t_pooled), instance_norm(flip_roi_feats(s_pooled, roi_scales)),
                                   weight)
        contrast_ins = prototype_contrast(s_vecs, t_vecs, labels, num_classes, **self.contrast_cfg)
        if fg.any():
            eca_vectors = F.mse_loss(s_logits[fg].softmax(-1), t_logits[fg].softmax(-1)) + \
                F.mse_loss(roi_deltas_to_reference(s_deltas[fg], roi_scales[fg]), t_deltas[fg])
        else:
            eca_vectors = s_logits.sum() * 0. + s_deltas.sum() * 0.
        return dict(terms=dict(mse_ins=mse_ins, contrast_ins=contrast_ins, eca_vectors=eca_vectors),
                    num_rois=int(labels.numel()), num_fg=int(fg.sum()))
