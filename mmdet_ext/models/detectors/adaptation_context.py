"""What one source-free adaptation step hands to its pluggable adaptation losses.

The teacher pass (weak view, no gradient) and the student pass (strong view) are run once by
:class:`SourceFreeMeanTeacher`; every adaptation loss (LPLD, WSCoL, ...) reads them from here
instead of running the backbones again.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_project
from mmengine.structures import InstanceData
from torch import Tensor, nn


@dataclass
class AdaptationContext:
    """One adaptation step.

    Attributes:
        student, teacher: the two detectors (the teacher in eval mode, frozen).
        teacher_feats: the teacher's neck outputs on the weak view, one (N, C, H_l, W_l) per level.
        student_feats: the student's neck outputs on the strong view (with gradient).
        teacher_samples, student_samples: per-image data samples of each view; the student's
            carry the pseudo labels as ``gt_instances`` (student-view coordinates).
        proposals: the teacher's post-NMS RPN proposals per image (``bboxes`` (P, 4), ``scores``),
            weak-view coordinates; None for a single-stage teacher.
        detections: the teacher's detections per image (weak view, before the score threshold).
        pseudo_labels: the high-confidence pseudo labels (HPL) per image, weak-view coordinates.
        num_classes: foreground classes.
        progress: dict with ``iter`` and ``max_iters`` of the run when known (for schedules).
    """
    student: nn.Module
    teacher: nn.Module
    teacher_feats: Tuple[Tensor, ...]
    student_feats: Tuple[Tensor, ...]
    teacher_samples: SampleList
    student_samples: SampleList
    proposals: Optional[List[InstanceData]]
    detections: List[InstanceData]
    pseudo_labels: List[InstanceData]
    num_classes: int
    progress: Dict[str, int] = field(default_factory=dict)

    def teacher_to_student(self, boxes: Tensor, index: int) -> Tensor:
        """Map (n, 4) boxes of image ``index`` from the weak view to the strong view.

        Both views record their geometry as ``homography_matrix`` (MMDetection's transforms
        keep it); with the same geometry this is the identity.
        """
        return project_between_views(boxes, self.teacher_samples[index], self.student_samples[index])

    def zero_loss(self) -> Tensor:
        """A zero that stays attached to the student's graph (DDP needs every output used)."""
        return sum(f.sum() for f in self.student_feats) * 0.


def _homography(sample, device) -> Tensor:
    matrix = sample.metainfo.get('homography_matrix')
    if matrix is None:
        return torch.eye(3, device=device)
    return torch.as_tensor(matrix, dtype=torch.float32, device=device)


def project_between_views(boxes: Tensor, source_sample, target_sample) -> Tensor:
    """Project (n, 4) xyxy boxes from the view of ``source_sample`` to that of ``target_sample``."""
    if boxes.numel() == 0:
        return boxes
    source_h = _homography(source_sample, boxes.device)
    target_h = _homography(target_sample, boxes.device)
    if torch.equal(source_h, target_h):
        return boxes
    h, w = target_sample.img_shape[:2]
    return bbox_project(boxes, target_h @ torch.linalg.inv(source_h), (h, w))


class FeatureRecorder:
    """Records the output of ``module`` (the neck, or the backbone of a neck-less detector)
    during one call, so the student's features of its ordinary loss pass are reused."""

    def __init__(self, module: nn.Module):
        self.output = None
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.output = tuple(output)

    def remove(self):
        self._handle.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
