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

from mmdet.models.utils import rename_loss_dict
from mmdet.structures import SampleList
from torch import Tensor

from ...registry import register
from .adaptation_context import AdaptationContext
from .source_free_mean_teacher import STUDENT_BRANCH, TEACHER_BRANCH, SourceFreeMeanTeacher, _scale

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

    def _target_samples(self, data_samples: Dict[str, SampleList]) -> list:
        return super()._target_samples(data_samples) + list(data_samples.get(LIGHT_BRANCH) or [])

    def _make_context(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList],
                      **fields) -> DomainAdaptiveContext:
        return DomainAdaptiveContext(**fields, light_inputs=inputs.get(LIGHT_BRANCH),
                                     light_samples=data_samples.get(LIGHT_BRANCH))
