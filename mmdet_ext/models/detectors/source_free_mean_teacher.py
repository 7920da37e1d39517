"""Source-free mean-teacher adaptation (specs/sfod.md section 0) on MMDetection's semi-supervised base.

Student and teacher are two copies of one detector that both load a source-trained checkpoint
(``load_from``: MMDetection's ``SemiBaseDetector`` copies an un-prefixed checkpoint into both).
Training sees unlabelled target images only, as two views of the same geometry: the teacher
(eval mode, no gradient) pseudo-labels the weak view; detections scoring above
``pseudo_thr`` (HPL) supervise the student's ordinary losses on the strong view. The teacher
follows the student by EMA (:class:`~mmdet_ext.engine.hooks.TeacherEMAHook`). Adaptation methods
(LPLD, WSCoL, ...) are extra loss modules listed in ``adaptations``; none = plain mean teacher.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmdet.models.detectors import SemiBaseDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ...registry import register
from .adaptation_context import AdaptationContext, FeatureRecorder, project_between_views

TEACHER_BRANCH, STUDENT_BRANCH = 'unsup_teacher', 'unsup_student'


@register('MODELS')
class SourceFreeMeanTeacher(SemiBaseDetector):
    """Teacher-student detector for source-free domain adaptation.

    Args:
        detector: config of the detector (Faster R-CNN, or a single-stage detector when no
            adaptation loss needs RPN proposals).
        adaptations: configs of adaptation loss modules (registered in MODELS), each called with
            an :class:`AdaptationContext` and returning a dict of losses. Modules live here, not
            in the student, so the teacher's EMA pairing with the student stays exact.
        semi_train_cfg: ``pseudo_thr`` (score threshold of HPL, default 0.7), ``unsup_weight``
            (weight of the student's pseudo-label losses, default 1), ``min_pseudo_bbox_wh``.
        semi_test_cfg: ``predict_on`` ('teacher' by default: the evaluated model is the teacher).
        data_preprocessor: a ``MultiBranchDataPreprocessor``.
    """

    def __init__(self,
                 detector: dict,
                 adaptations: Sequence[dict] = (),
                 semi_train_cfg: Optional[dict] = None,
                 semi_test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(detector, semi_train_cfg=dict(semi_train_cfg or {}),
                         semi_test_cfg=dict(semi_test_cfg or {}), data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.adaptations = nn.ModuleList([MODELS.build(cfg) for cfg in adaptations])
        self.pseudo_thr = self.semi_train_cfg.get('pseudo_thr', 0.7)
        self.unsup_weight = self.semi_train_cfg.get('unsup_weight', 1.)
        self.min_pseudo_wh = self.semi_train_cfg.get('min_pseudo_bbox_wh', (1e-2, 1e-2))
        self.progress: Dict[str, int] = {}
        if any(a.requires_proposals for a in self.adaptations if hasattr(a, 'requires_proposals')) \
                and not getattr(self.student, 'with_rpn', False):
            names = [type(a).__name__ for a in self.adaptations if getattr(a, 'requires_proposals', False)]
            raise ValueError(f'adaptations {names} need RPN proposals, but detector type '
                             f'{detector.get("type")!r} has no rpn_head')

    @property
    def num_classes(self) -> int:
        head = self.student.roi_head.bbox_head if getattr(self.student, 'with_roi_head', False) \
            else self.student.bbox_head
        return head.num_classes

    def train(self, mode: bool = True):
        """The runner calls ``train()`` on the whole model; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    # ----------------------------------------------------------------------------------- loss
    def loss(self, multi_batch_inputs: Dict[str, Tensor],
             multi_batch_data_samples: Dict[str, SampleList]) -> dict:
        """Losses of one adaptation step from the weak (teacher) and strong (student) branches.

        Args:
            multi_batch_inputs: ``{'unsup_teacher': (N, 3, H, W), 'unsup_student': (N, 3, H, W)}``.
            multi_batch_data_samples: the data samples of the same two branches.
        """
        missing = {TEACHER_BRANCH, STUDENT_BRANCH} - set(multi_batch_inputs)
        if missing:
            raise KeyError(f'source-free adaptation needs the pipeline branches '
                           f'{[TEACHER_BRANCH, STUDENT_BRANCH]}; missing {sorted(missing)} '
                           f'(got {sorted(multi_batch_inputs)}). Build them with MultiBranch.')
        return self._target_losses(multi_batch_inputs, multi_batch_data_samples)

    def _target_samples(self, data_samples: Dict[str, SampleList]) -> list:
        """Every target-view sample of the batch (none may carry ground truth)."""
        return data_samples[TEACHER_BRANCH] + data_samples[STUDENT_BRANCH]

    def _make_context(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList],
                      **fields) -> AdaptationContext:
        """The context handed to the adaptation modules (subclasses add their views)."""
        return AdaptationContext(**fields)

    def _target_losses(self, inputs: Dict[str, Tensor], data_samples: Dict[str, SampleList]) -> dict:
        """Pseudo-label losses of the student on the target views + the adaptation losses."""
        teacher_samples = data_samples[TEACHER_BRANCH]
        student_samples = data_samples[STUDENT_BRANCH]
        _refuse_target_labels(self._target_samples(data_samples))

        teacher_out = self.teacher_pass(inputs[TEACHER_BRANCH], teacher_samples)
        pseudo_labels = [self._high_confidence(det) for det in teacher_out['detections']]
        for i, (pseudo, sample) in enumerate(zip(pseudo_labels, student_samples)):
            sample.gt_instances = self._to_student_view(pseudo, teacher_samples[i], sample)
            # No target annotations were loaded, so there is nothing to ignore either.
            sample.ignored_instances = InstanceData(bboxes=pseudo.bboxes.new_zeros((0, 4)),
                                                    labels=pseudo.labels.new_zeros((0,)))

        recorder_module = self.student.neck if self.student.with_neck else self.student.backbone
        with FeatureRecorder(recorder_module) as recorder:
            student_losses = self.student.loss(inputs[STUDENT_BRANCH], student_samples)
        num_pseudo = sum(len(s.gt_instances) for s in student_samples)
        # No pseudo label in the whole batch: keep the losses in the graph, weighted 0.
        weight = self.unsup_weight if num_pseudo > 0 else 0.
        losses = {k: _scale(v, weight) if 'loss' in k else v for k, v in student_losses.items()}

        context = self._make_context(
            inputs, data_samples,
            student=self.student, teacher=self.teacher, teacher_feats=teacher_out['feats'],
            student_feats=recorder.output, teacher_samples=teacher_samples,
            student_samples=student_samples, proposals=teacher_out['proposals'],
            detections=teacher_out['detections'], pseudo_labels=pseudo_labels,
            num_classes=self.num_classes, progress=dict(self.progress))
        for module in self.adaptations:
            extra = module(context)
            clash = set(extra) & set(losses)
            if clash:
                raise KeyError(f'{type(module).__name__} returned loss names {sorted(clash)} '
                               'already used by another loss')
            losses.update(extra)
        losses['num_pseudo_labels'] = torch.tensor(float(num_pseudo) / max(len(student_samples), 1))
        return losses

    @torch.no_grad()
    def teacher_pass(self, inputs: Tensor, samples: SampleList) -> dict:
        """The teacher on the weak view, in eval mode (whatever the runner set).

        Returns:
            dict with ``feats`` (neck outputs), ``proposals`` (post-NMS RPN proposals per image,
            or None for a single-stage teacher) and ``detections`` (per image, after the
            detector's test-time NMS, weak-view coordinates).
        """
        self.teacher.eval()
        feats = self.teacher.extract_feat(inputs)
        if getattr(self.teacher, 'with_rpn', False):
            proposals = self.teacher.rpn_head.predict(feats, samples, rescale=False)
            detections = self.teacher.roi_head.predict(feats, proposals, samples, rescale=False)
        else:
            proposals = None
            detections = self.teacher.bbox_head.predict(feats, samples, rescale=False)
        return dict(feats=feats, proposals=proposals, detections=detections)

    def _high_confidence(self, detections: InstanceData) -> InstanceData:
        keep = detections.scores > self.pseudo_thr
        return detections[keep]

    def _to_student_view(self, pseudo: InstanceData, teacher_sample, student_sample) -> InstanceData:
        boxes = project_between_views(pseudo.bboxes, teacher_sample, student_sample)
        wh = boxes[:, 2:] - boxes[:, :2]
        keep = (wh[:, 0] > self.min_pseudo_wh[0]) & (wh[:, 1] > self.min_pseudo_wh[1])
        return InstanceData(bboxes=boxes[keep], labels=pseudo.labels[keep])


def _scale(value, weight):
    if isinstance(value, (list, tuple)):
        return type(value)(v * weight for v in value)
    return value * weight


def _refuse_target_labels(samples: List) -> None:
    """Source-free means the target's annotations are never read in training."""
    for sample in samples:
        gt = sample.get('gt_instances')
        if gt is not None and len(gt) > 0:
            raise ValueError(
                f'target image {sample.metainfo.get("img_path", "?")} reached the adaptation step '
                f'with {len(gt)} ground-truth boxes: a source-free pipeline must not load target '
                'annotations (remove LoadAnnotations from the target train pipeline)')
