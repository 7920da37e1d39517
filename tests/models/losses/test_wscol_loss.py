"""WSCoLLoss inside SourceFreeMeanTeacher: EMA pairing untouched, memory in checkpoints, loss
wiring and gradients, zero losses when there is nothing to do, the first-epoch blend."""
import os.path as osp

import pytest
import torch
from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint

from tests.conftest import ROOT
from tests.models.detectors.test_source_free_mean_teacher import MT_CFG, batch, build

WSCOL_CFG = osp.join(ROOT, 'configs/sfod/wscol_faster-rcnn_r18_fpn_shapes-fog.py')
WSCOL_LPLD_CFG = osp.join(ROOT, 'configs/sfod/wscol-lpld_faster-rcnn_r18_fpn_shapes-fog.py')


def test_mapping_network_is_outside_the_ema_pairing():
    from mmdet_ext.engine.hooks.teacher_ema_hook import update_teacher_ema
    plain, _ = build(MT_CFG)
    model, _ = build(WSCOL_CFG)
    # Adding WSCoL changes neither the student's nor the teacher's state.
    assert list(model.student.state_dict()) == list(plain.student.state_dict())
    assert list(model.teacher.state_dict()) == list(plain.teacher.state_dict())
    wscol = model.adaptations[0]
    mapping_ids = {id(p) for p in wscol.mapping.parameters()}
    assert mapping_ids and not mapping_ids & {id(p) for p in model.student.parameters()}
    assert not mapping_ids & {id(p) for p in model.teacher.parameters()}
    before = {k: v.clone() for k, v in wscol.state_dict().items()}
    update_teacher_ema(model.teacher, model.student, 0.9)  # pairs exactly (raises otherwise)
    for k, v in wscol.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_recipe_modules_and_unique_names():
    model, _ = build(WSCOL_LPLD_CFG, pseudo_thr=0.0)  # the config says 0.9; 0 gives HPL on an untrained model
    assert [type(m).__name__ for m in model.adaptations] == ['WSCoLLoss', 'LPLDLoss']
    model.train()
    losses = model.loss(*batch())
    for key in ('loss_wscol_distill', 'loss_wscol_con', 'loss_lpld', 'loss_cls', 'num_wscol_fg'):
        assert key in losses


def test_losses_reach_the_student_and_the_mapping_network_only():
    model, _ = build(WSCOL_CFG, pseudo_thr=0.0)
    model.train()
    losses = model.loss(*batch())
    wscol = model.adaptations[0]
    assert losses['num_wscol_fg'] >= 3
    assert losses['loss_wscol_con'].item() > 0 and losses['loss_wscol_distill'].item() > 0
    (losses['loss_wscol_con'] + losses['loss_wscol_distill']).backward()
    assert wscol.mapping.fc_embed.weight.grad is not None and wscol.mapping.fc_embed.weight.grad.abs().sum() > 0
    assert model.student.roi_head.bbox_head.fc_cls.weight.grad.abs().sum() > 0
    assert model.student.backbone.conv1.weight.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())
    # The memory bank holds the HPL features; prototypes of the classes seen exist.
    assert wscol.bank_filled.sum() > 0
    assert torch.equal(wscol.prototype_initialized, wscol.bank_filled > 0)


def test_no_pseudo_labels_gives_attached_zeros_and_leaves_the_memory():
    model, _ = build(WSCOL_CFG, pseudo_thr=1.0)
    model.train()
    losses = model.loss(*batch())
    wscol = model.adaptations[0]
    con = losses['loss_wscol_con']
    assert con.item() == 0 and con.requires_grad
    con.backward()
    assert wscol.mapping.fc_embed.weight.grad is not None  # attached: DDP sees every parameter used
    assert wscol.bank_filled.sum() == 0 and not wscol.prototype_initialized.any()
    # The distillation needs no pseudo label.
    assert losses['loss_wscol_distill'].requires_grad


def test_too_few_foreground_samples_skip_the_contrast():
    model, _ = build(WSCOL_CFG, pseudo_thr=0.0)
    model.adaptations[0].min_foreground = 10 ** 6
    model.train()
    losses = model.loss(*batch())
    assert losses['loss_wscol_con'].item() == 0 and losses['loss_wscol_con'].requires_grad


def test_memory_and_prototypes_are_saved_and_restored(tmp_path):
    model, _ = build(WSCOL_CFG, pseudo_thr=0.0)
    model.train()
    model.loss(*batch())
    wscol = model.adaptations[0]
    assert wscol.bank_filled.sum() > 0
    keys = set(model.state_dict())
    for name in ('bank', 'bank_filled', 'bank_head', 'prototypes', 'prototype_initialized'):
        assert f'adaptations.0.{name}' in keys
    path = str(tmp_path / 'iter_1.pth')
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, path)
    restored, _ = build(WSCOL_CFG)
    load_checkpoint(restored, path, map_location='cpu', strict=True)
    for name, value in wscol.state_dict().items():
        assert torch.equal(restored.adaptations[0].state_dict()[name], value), name


def test_blend_rate_follows_the_first_epoch():
    from mmdet_ext.models.losses.wscol_loss import WSCoLLoss
    assert WSCoLLoss.blend_rate({}) == 1.
    assert WSCoLLoss.blend_rate(dict(iter=0, epoch_iters=75)) == 0.
    assert WSCoLLoss.blend_rate(dict(iter=30, epoch_iters=75)) == pytest.approx(0.4)
    assert WSCoLLoss.blend_rate(dict(iter=200, epoch_iters=75)) == 1.


def test_forced_labels_survive_the_clustering():
    from mmengine.structures import InstanceData
    model, _ = build(WSCOL_CFG)
    wscol = model.adaptations[0]
    g = torch.Generator().manual_seed(0)
    emb, vec, logits = torch.randn(6, 512, generator=g), torch.randn(6, 256, generator=g), torch.zeros(6, 4)
    logits[:, 3] = 5.  # the teacher calls everything background
    rois = torch.tensor([[0, 0., 0., 10., 10.], [0, 40., 40., 60., 60.], [0, 80., 80., 90., 90.],
                         [1, 0., 0., 10., 10.], [1, 40., 40., 60., 60.], [1, 80., 80., 90., 90.]])
    hpl = [InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([1])),
           InstanceData(bboxes=torch.tensor([[41., 41., 60., 60.]]), labels=torch.tensor([2]))]
    for rho in (0., 0.5, 1.):
        labels = wscol.cluster(emb, vec, logits, rois, hpl, rho)
        assert labels[0] == 1 and labels[4] == 2
        assert labels[[1, 2, 3, 5]].tolist() == [3, 3, 3, 3]


def test_bad_configuration_is_named():
    model, _ = build(WSCOL_CFG, pseudo_thr=0.0)
    model.adaptations[0].mapping.in_shape = (64, 7, 7)
    model.train()
    with pytest.raises(ValueError, match=r'expects RoI features \(R, 64, 7, 7\), received'):
        model.loss(*batch())
    model, _ = build(WSCOL_CFG, pseudo_thr=0.0)
    model.adaptations[0].num_classes = 5
    with pytest.raises(ValueError, match='num_classes=5'):
        model.loss(*batch())
