"""SourceFreeMeanTeacher: checkpoints, teacher mode, pseudo labels, refusals, LPLD wiring."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint
from mmengine.structures import InstanceData

from tests.conftest import ROOT

MT_CFG = osp.join(ROOT, 'configs/sfod/mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py')
LPLD_CFG = osp.join(ROOT, 'configs/sfod/lpld_faster-rcnn_r18_fpn_shapes-fog.py')
SIZE = 96


def build(cfg_path=LPLD_CFG, **semi):
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(cfg_path)
    cfg.model.semi_train_cfg.update(semi)
    torch.manual_seed(0)
    return MODELS.build(cfg.model), cfg


def samples(n=2, flip=False, gt=False):
    out = []
    for i in range(n):
        sample = DetDataSample(metainfo=dict(
            img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE), batch_input_shape=(SIZE, SIZE),
            scale_factor=(1., 1.), img_path=f'target_{i}.png',
            homography_matrix=np.array([[-1., 0., SIZE], [0., 1., 0.], [0., 0., 1.]], dtype=np.float32)
            if flip else np.eye(3, dtype=np.float32)))
        if gt:
            sample.gt_instances = InstanceData(bboxes=torch.tensor([[1., 1., 20., 20.]]), labels=torch.tensor([0]))
        out.append(sample)
    return out


def batch(n=2, same_view=True):
    torch.manual_seed(1)
    weak = torch.randn(n, 3, SIZE, SIZE)
    strong = weak.clone() if same_view else torch.randn(n, 3, SIZE, SIZE)
    return ({'unsup_teacher': weak, 'unsup_student': strong},
            {'unsup_teacher': samples(n), 'unsup_student': samples(n)})


def test_plain_checkpoint_loads_into_student_and_teacher(tmp_path):
    model, cfg = build()
    from mmdet.registry import MODELS
    torch.manual_seed(5)
    source = MODELS.build(cfg.model.detector)
    path = str(tmp_path / 'source.pth')
    save_checkpoint({'state_dict': source.state_dict(), 'meta': {}}, path)
    load_checkpoint(model, path, map_location='cpu')
    for name, value in source.state_dict().items():
        assert torch.equal(model.student.state_dict()[name], value), name
        assert torch.equal(model.teacher.state_dict()[name], value), name


def test_resumed_checkpoint_restores_the_teacher(tmp_path):
    model, _ = build()
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.5)
    path = str(tmp_path / 'iter_2.pth')
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, path)
    restored, _ = build()
    load_checkpoint(restored, path, map_location='cpu')
    for (name, a), b in zip(model.teacher.state_dict().items(), restored.teacher.state_dict().values()):
        assert torch.equal(a, b), name
    # ... and the teacher was not overwritten by the student.
    t = dict(restored.teacher.named_parameters())
    s = dict(restored.student.named_parameters())
    assert not torch.equal(t['backbone.conv1.weight'], s['backbone.conv1.weight'])


def test_teacher_stays_in_eval_mode():
    model, _ = build()
    model.train()  # what the runner does before every training phase
    assert model.student.training and not model.teacher.training
    seen = []
    model.teacher.backbone.register_forward_pre_hook(lambda m, a: seen.append(m.training))
    model.teacher.roi_head.bbox_head.register_forward_pre_hook(lambda m, a: seen.append(m.training))
    # Something set the teacher's modules to train mode behind the wrapper's back.
    model.teacher.train()
    model.loss(*batch())
    assert seen and not any(seen)
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_loss_keys_and_lpld_is_attached():
    model, _ = build(pseudo_thr=0.0)
    model.adaptations[0].fg_prob_thr = 0.0
    model.adaptations[0].iou_thr = 1.0
    model.train()
    losses = model.loss(*batch())
    for key in ('loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_lpld', 'num_pseudo_labels', 'num_lpld'):
        assert key in losses
    assert losses['num_lpld'] > 0 and losses['loss_lpld'].requires_grad
    losses['loss_lpld'].backward()
    assert model.student.roi_head.bbox_head.fc_cls.weight.grad is not None
    assert model.teacher.roi_head.bbox_head.fc_cls.weight.grad is None


def test_no_pseudo_labels_gives_zero_losses_in_the_graph():
    model, _ = build(pseudo_thr=1.0)
    model.train()
    losses = model.loss(*batch())
    assert losses['num_pseudo_labels'] == 0
    assert losses['loss_lpld'].item() == 0 and losses['loss_lpld'].requires_grad
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v) for k, v in losses.items() if 'loss' in k)
    assert total.item() == 0. and total.requires_grad


def test_identical_student_and_teacher_give_zero_lpld():
    model, _ = build(pseudo_thr=0.0)
    model.adaptations[0].fg_prob_thr = 0.0
    model.adaptations[0].iou_thr = 1.0
    model.teacher.load_state_dict(model.student.state_dict())  # built separately: copy
    model.eval()  # same BN statistics on both sides; same weights, same view
    losses = model.loss(*batch(same_view=True))
    assert losses['num_lpld'] > 0
    assert losses['loss_lpld'].item() == pytest.approx(0., abs=1e-6)


def test_flipped_student_view_gets_projected_pseudo_labels():
    model, _ = build(pseudo_thr=0.0)
    inputs, data = batch()
    data['unsup_student'] = samples(2, flip=True)
    model.train()
    teacher_out = model.teacher_pass(inputs['unsup_teacher'], data['unsup_teacher'])
    model.loss(inputs, data)
    det = teacher_out['detections'][0]
    kept = det[det.scores > 0.0]
    student_boxes = data['unsup_student'][0].gt_instances.bboxes
    expected = kept.bboxes.clone()
    expected[:, [0, 2]] = SIZE - kept.bboxes[:, [2, 0]]
    assert torch.allclose(student_boxes, expected[:len(student_boxes)], atol=1e-4)


def test_target_labels_are_refused():
    model, _ = build()
    inputs, data = batch()
    data['unsup_student'] = samples(2, gt=True)
    with pytest.raises(ValueError, match='must not load target annotations'):
        model.loss(inputs, data)


def test_missing_branch_is_named():
    model, _ = build()
    inputs, data = batch()
    del inputs['unsup_student']
    with pytest.raises(KeyError, match='unsup_student'):
        model.loss(inputs, data)


def test_proposal_based_losses_need_an_rpn():
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    atss = Config.fromfile(osp.join(ROOT, 'configs/_base_/models/atss_r18_fpn.py')).model
    with pytest.raises(ValueError, match='rpn_head'):
        MODELS.build(dict(type='SourceFreeMeanTeacher', detector=atss, adaptations=[dict(type='LPLDLoss')],
                          data_preprocessor=dict(type='MultiBranchDataPreprocessor',
                                                 data_preprocessor=copy.deepcopy(atss.data_preprocessor))))


def test_single_stage_mean_teacher_trains():
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    atss = Config.fromfile(osp.join(ROOT, 'configs/_base_/models/atss_r18_fpn.py')).model
    model = MODELS.build(dict(type='SourceFreeMeanTeacher', detector=atss, semi_train_cfg=dict(pseudo_thr=0.0),
                              data_preprocessor=dict(type='MultiBranchDataPreprocessor',
                                                     data_preprocessor=copy.deepcopy(atss.data_preprocessor))))
    model.train()
    losses = model.loss(*batch())
    assert {'loss_cls', 'loss_bbox', 'loss_centerness'} <= set(losses)


def test_adaptation_modules_are_outside_the_student():
    model, _ = build()
    student_params = {id(p) for p in model.student.parameters()}
    assert not any(id(p) in student_params for p in model.adaptations.parameters())
    assert set(dict(model.student.named_parameters())) == set(dict(model.teacher.named_parameters()))


def test_config_names_resolve_to_these_modules():
    from mmdet_ext.models.detectors.source_free_mean_teacher import SourceFreeMeanTeacher
    from mmdet_ext.models.losses.lpld_loss import LPLDLoss
    model, _ = build()
    assert type(model) is SourceFreeMeanTeacher and type(model.adaptations[0]) is LPLDLoss
