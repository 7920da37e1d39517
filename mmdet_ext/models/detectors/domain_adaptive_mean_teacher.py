"""Teacher-student detector for unsupervised domain adaptation: labelled source + unlabelled target.

NSA (specs/sfod.md section 3) is not source-free: every batch mixes labelled source images (the
``sup`` branch: the student's ordinary losses with ground truth) and unlabelled target images
(the source-free branches of :class:`SourceFreeMeanTeacher`: the teacher pseudo-labels
``unsup_teacher``, detections above ``pseudo_thr`` supervise the student on ``unsup_student``,
projected through the recorded homography when that view is geometrically disturbed). An optional
third target view ``unsup_light`` (NSA's light disturbance) is handed to the adaptation modules
through :class:`DomainAdaptiveContext`. Batches come from a two-source sampler over a
``ConcatDataset`` of the source (with ``LoadAnnotations``) and target (without) datasets.
"""
from dataclasses import dataclass
from typing import Dict, Optional

import torch
from mmdet.models.utils import rename_loss_dict
from mmdet.structures import SampleList
from mmengine.structures import InstanceData
from torch import Tensor

from ...registry import register
from .adaptation_context import AdaptationContext, FeatureRecorder
from .source_free_mean_teacher import (STUDENT_BRANCH, TEACHER_BRANCH, SourceFreeMeanTeacher,
                                       _refuse_target_labels, _scale)

SUP_BRANCH, LIGHT_BRANCH = 'sup', 'unsup_light'


@dataclass
class DomainAdaptiveContext(AdaptationContext):
    """:class:`AdaptationContext` plus the light target view (None when not configured).

    Attributes:
        light_inputs: (N, 3, H', W') the lightly disturbed view of the same target images.
        light_samples: its data samples (``homography_matrix`` maps the original image to it).
    """
    light_inputs: Optional[Tensor] = None
    light_samples: Optional[SampleList] = None


@register('MODELS')
class DomainAdaptiveMeanTeacher(SourceFreeMeanTeacher):
    """Mean teacher with a labelled source branch.

    Args (beyond :class:`SourceFreeMeanTeacher`'s):
        semi_train_cfg: also ``sup_weight`` (weight of the source losses, default 1).
    Adaptation modules with ``requires_light_view = True`` need the ``unsup_light`` branch.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sup_weight = self.semi_train_cfg.get('sup_weight', 1.)
        self.needs_light_view = any(getattr(a, 'requires_light_view', False) for a in self.adaptations)

    def loss(self, multi_batch_inputs: Dict[str, Tensor],
             multi_batch_data_samples: Dict[str, SampleList]) -> dict:
        """Source losses (prefixed ``sup_``) + target pseudo-label losses + adaptation losses.

        Args:
            multi_batch_inputs: ``sup`` (N_s, 3, H, W) labelled source images, ``unsup_teacher``
                and ``unsup_student`` (N_t, 3, H, W), and ``unsup_light`` when an adaptation
                module needs it.
        """
        needed = {SUP_BRANCH, TEACHER_BRANCH, STUDENT_BRANCH} | ({LIGHT_BRANCH} if self.needs_light_view else set())
        missing = needed - set(multi_batch_inputs)
        if missing:
            raise KeyError(f'domain-adaptive training needs the branches {sorted(needed)}; missing '
                           f'{sorted(missing)} (got {sorted(multi_batch_inputs)}): use a two-source '
                           'sampler (MultiSourceSampler) over labelled source + unlabelled target data')
        sup_samples = multi_batch_data_samples[SUP_BRANCH]
        if sum(len(s.get('gt_instances') or []) for s in sup_samples) == 0:
            raise ValueError('the labelled source branch has no ground-truth boxes: its pipeline '
                             'needs LoadAnnotations (and filter_empty_gt=True)')
        sup_losses = self.student.loss(multi_batch_inputs[SUP_BRANCH], sup_samples)
        losses = rename_loss_dict('sup_', {k: _scale(v, self.sup_weight) if 'loss' in k else v
                                          for k, v in sup_losses.items()})
        losses.update(self._target_losses(multi_batch_inputs, multi_batch_data_samples))
        return losses

    def _target_losses(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList]) -> dict:
        """The source-free step on the target branches (same as the parent's, with a richer context)."""
        teacher_samples = data_samples[TEACHER_BRANCH]
        student_samples = data_samples[STUDENT_BRANCH]
        light_samples = data_samples.get(LIGHT_BRANCH)
        _refuse_target_labels(teacher_samples + student_samples + list(light_samples or []))

        teacher_out = self.teacher_pass(inputs[TEACHER_BRANCH], teacher_samples)
        pseudo_labels = [self._high_confidence(det) for det in teacher_out['detections']]
        for i, (pseudo, sample) in enumerate(zip(pseudo_labels, student_samples)):
            sample.gt_instances = self._to_student_view(pseudo, teacher_samples[i], sample)
            sample.ignored_instances = InstanceData(bboxes=pseudo.bboxes.new_zeros((0, 4)),
                                                    labels=pseudo.labels.new_zeros((0,)))
        recorder_module = self.student.neck if self.student.with_neck else self.student.backbone
        with FeatureRecorder(recorder_module) as recorder:
            student_losses = self.student.loss(inputs[STUDENT_BRANCH], student_samples)
        num_pseudo = sum(len(s.gt_instances) for s in student_samples)
        weight = self.unsup_weight if num_pseudo > 0 else 0.
        losses = {k: _scale(v, weight) if 'loss' in k else v for k, v in student_losses.items()}

        context = DomainAdaptiveContext(
            student=self.student, teacher=self.teacher, teacher_feats=teacher_out['feats'],
            student_feats=recorder.output, teacher_samples=teacher_samples,
            student_samples=student_samples, proposals=teacher_out['proposals'],
            detections=teacher_out['detections'], pseudo_labels=pseudo_labels,
            num_classes=self.num_classes, progress=dict(self.progress),
            light_inputs=inputs.get(LIGHT_BRANCH), light_samples=light_samples)
        for module in self.adaptations:
            extra = module(context)
            clash = set(extra) & set(losses)
            if clash:
                raise KeyError(f'{type(module).__name__} returned loss names {sorted(clash)} '
                               'already used by another loss')
            losses.update(extra)
        losses['num_pseudo_labels'] = torch.tensor(float(num_pseudo) / max(len(student_samples), 1))
        return losses
