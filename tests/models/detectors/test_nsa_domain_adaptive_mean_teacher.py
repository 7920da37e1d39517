"""DomainAdaptiveMeanTeacher (labelled source + unlabelled target) and NSAConsistencyLoss on
random tensors: loss names and gradients, zero consistency for identical teacher and student under
the identity transform, refusals."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from tests.conftest import ROOT

NSA_CFG = osp.join(ROOT, 'configs/nsa/nsa_faster-rcnn_r18_fpn_shapes-fog.py')
BASELINE_CFG = osp.join(ROOT, 'configs/nsa/uda-baseline_faster-rcnn_r18_fpn_shapes-fog.py')
SIZE = 96


def build(cfg_path=NSA_CFG, **semi):
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(cfg_path)
    cfg.model.semi_train_cfg.update(semi)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def samples(n=2, gt=False, matrix=None, shape=(SIZE, SIZE)):
    out = []
    for i in range(n):
        sample = DetDataSample(metainfo=dict(
            img_shape=shape, ori_shape=(SIZE, SIZE), pad_shape=shape, batch_input_shape=shape,
            scale_factor=(1., 1.), img_path=f'img_{i}.png',
            homography_matrix=np.eye(3, dtype=np.float32) if matrix is None else matrix))
        if gt:
            sample.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 50., 60.]]), labels=torch.tensor([1]))
        out.append(sample)
    return out


def batch(light=True, sup_gt=True):
    torch.manual_seed(1)
    weak = torch.randn(2, 3, SIZE, SIZE)
    flip = np.array([[-1., 0., SIZE], [0., 1., 0.], [0., 0., 1.]], dtype=np.float32)
    inputs = {'sup': torch.randn(2, 3, SIZE, SIZE), 'unsup_teacher': weak, 'unsup_student': weak.flip(-1)}
    data = {'sup': samples(gt=sup_gt), 'unsup_teacher': samples(), 'unsup_student': samples(matrix=flip)}
    if light:
        inputs['unsup_light'] = weak.flip(-1)
        data['unsup_light'] = samples(matrix=flip)
    return inputs, data


def test_loss_has_source_target_and_nsa_terms_and_only_the_student_learns():
    model = build(pseudo_thr=0.0)
    model.train()
    inputs, data = batch()
    losses = model.loss(inputs, data)
    for key in ('sup_loss_rpn_cls', 'sup_loss_cls', 'loss_rpn_cls', 'loss_cls', 'loss_nsa_pix',
                'loss_nsa_ins', 'loss_nsa_out', 'nsa_internal_mse', 'nsa_mse_pix', 'nsa_eca_maps'):
        assert key in losses, key
    assert losses['num_pseudo_labels'] > 0
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v) for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not model.teacher.training


def test_baseline_has_no_nsa_terms_and_needs_no_light_view():
    model = build(BASELINE_CFG, pseudo_thr=0.0)
    model.train()
    inputs, data = batch(light=False)
    losses = model.loss(inputs, data)
    assert 'sup_loss_cls' in losses and 'loss_cls' in losses
    assert not [k for k in losses if 'nsa' in k]
    assert len(model.adaptations) == 0


def _identity_context(model, inputs):
    from mmdet_ext.models.detectors.domain_adaptive_mean_teacher import DomainAdaptiveContext
    teacher_samples = samples()
    out = model.teacher_pass(inputs, teacher_samples)
    proposals = [InstanceData(bboxes=torch.tensor([[10., 10., 40., 50.], [50., 20., 90., 70.], [5., 60., 30., 90.]]),
                              scores=torch.tensor([0.9, 0.8, 0.7])) for _ in range(2)]
    pseudo = [InstanceData(bboxes=torch.tensor([[10., 10., 40., 50.]]), labels=torch.tensor([1]),
                           scores=torch.tensor([0.9])) for _ in range(2)]
    feats = model.student.extract_feat(inputs)
    return DomainAdaptiveContext(
        student=model.student, teacher=model.teacher, teacher_feats=out['feats'], student_feats=feats,
        teacher_samples=teacher_samples, student_samples=samples(), proposals=proposals,
        detections=out['detections'], pseudo_labels=pseudo, num_classes=model.num_classes,
        light_inputs=inputs.clone(), light_samples=samples())


def test_identical_teacher_and_student_under_the_identity_give_zero_consistency():
    model = build()
    model.teacher.load_state_dict(model.student.state_dict())
    model.eval()  # the same BN statistics on both sides
    torch.manual_seed(2)
    context = _identity_context(model, torch.randn(2, 3, SIZE, SIZE))
    losses = model.adaptations[0](context)
    assert losses['nsa_num_rois'] > 0 and losses['nsa_num_fg_rois'] > 0  # the terms had work to do
    for key in ('nsa_mse_pix', 'nsa_mse_ins', 'nsa_eca_maps', 'nsa_eca_vectors', 'nsa_internal_mse'):
        assert losses[key].abs().item() < 1e-8, (key, losses[key])
    # A different student is inconsistent.
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    context = _identity_context(model, torch.randn(2, 3, SIZE, SIZE))
    losses = model.adaptations[0](context)
    assert losses['nsa_mse_pix'] > 0 and losses['nsa_eca_maps'] > 0


def test_refusals_name_the_problem():
    model = build(pseudo_thr=0.0)
    inputs, data = batch(light=False)
    with pytest.raises(KeyError, match='unsup_light'):
        model.loss(inputs, data)
    inputs, data = batch(sup_gt=False)
    with pytest.raises(ValueError, match='LoadAnnotations'):
        model.loss(inputs, data)
    inputs, data = batch()
    data['unsup_light'] = samples(gt=True)
    with pytest.raises(ValueError, match='must not load target annotations'):
        model.loss(inputs, data)
    inputs, data = batch()
    del inputs['sup']
    with pytest.raises(KeyError, match='two-source sampler'):
        model.loss(inputs, data)
    # NSA inside the source-free wrapper (no light view in its context).
    from mmdet_ext.models.detectors.adaptation_context import AdaptationContext
    context = _identity_context(model, torch.randn(2, 3, SIZE, SIZE))
    plain = AdaptationContext(**{k: getattr(context, k) for k in AdaptationContext.__dataclass_fields__})
    with pytest.raises(ValueError, match="'unsup_light'"):
        model.adaptations[0](plain)


def test_config_names_resolve_to_these_modules():
    from mmdet_ext.models.detectors.domain_adaptive_mean_teacher import DomainAdaptiveMeanTeacher
    from mmdet_ext.models.losses.nsa_loss import NSAConsistencyLoss
    model = build()
    assert type(model) is DomainAdaptiveMeanTeacher and type(model.adaptations[0]) is NSAConsistencyLoss
