"""LPLD's rules (specs/sfod.md section 1): the worked example, the filters, edge cases."""
import math

import pytest
import torch

from mmdet_ext.models.losses.lpld_rules import lpld_distillation, lpld_keep_mask, teacher_class_boxes

FAR_BOX = torch.tensor([[100., 100., 120., 120.]])
HPL = torch.tensor([[0., 0., 10., 10.]])


def test_worked_example():
    z_t, z_s = torch.tensor([[3., 0., 1.]]), torch.tensor([[1., 0.5, 0.]])
    assert lpld_keep_mask(z_t, FAR_BOX, HPL).tolist() == [True]
    fg = torch.softmax(z_t[:, :2], 1).max().item()
    bg = torch.softmax(z_t, 1)[0, 2].item()
    assert fg == pytest.approx(0.9526, abs=1e-4) and bg == pytest.approx(0.1142, abs=1e-4)
    # Features with cosine 0.8: w = 0.2.
    f_t = torch.tensor([[1., 0.]])
    f_s = torch.tensor([[0.8, 0.6]])
    loss = lpld_distillation(z_t, z_s, f_t, f_s, loss_weight=0.1)
    assert loss.item() == pytest.approx(0.0102624, abs=1e-6)


def test_kl_value_of_the_example():
    z_t, z_s = torch.tensor([[3., 0., 1.]]), torch.tensor([[1., 0.5, 0.]])
    # w = 1 (orthogonal features), weight 1: the loss is the KL itself.
    kl = lpld_distillation(z_t, z_s, torch.tensor([[1., 0.]]), torch.tensor([[0., 1.]]), loss_weight=1.)
    assert kl.item() == pytest.approx(0.51312, abs=1e-5)


def test_low_foreground_confidence_is_filtered():
    # max p_fg = 0.8808 < 0.9
    assert lpld_keep_mask(torch.tensor([[2., 0., 1.]]), FAR_BOX, HPL).tolist() == [False]


def test_confident_background_is_filtered():
    z_t = torch.tensor([[3., 0., 10.]])  # p_fg max 0.95 but p_bg > 0.99
    assert torch.softmax(z_t, 1)[0, 2] > 0.99
    assert lpld_keep_mask(z_t, FAR_BOX, HPL).tolist() == [False]
    assert lpld_keep_mask(z_t, FAR_BOX, HPL, bg_prob_thr=0.9999).tolist() == [True]


def test_overlap_with_a_high_confidence_label_is_filtered():
    z_t = torch.tensor([[3., 0., 1.]] * 3)
    boxes = torch.tensor([[0., 0., 10., 10.],     # IoU 1
                          [0., 0., 10., 4.],      # IoU 0.4: kept (<=)
                          [0., 0., 10., 5.]])     # IoU 0.5
    assert lpld_keep_mask(z_t, boxes, HPL).tolist() == [False, True, False]


def test_image_without_pseudo_labels_is_skipped():
    z_t = torch.tensor([[3., 0., 1.]])
    assert lpld_keep_mask(z_t, FAR_BOX, torch.zeros((0, 4))).tolist() == [False]


def test_zero_loss_without_candidates_stays_in_the_graph():
    z_s = torch.zeros((0, 3), requires_grad=True)
    f_s = torch.zeros((0, 8), requires_grad=True)
    loss = lpld_distillation(torch.zeros((0, 3)), z_s, torch.zeros((0, 8)), f_s)
    assert loss.item() == 0. and loss.requires_grad
    loss.backward()
    assert z_s.grad is not None


def test_identical_student_and_teacher_give_zero_weight():
    z = torch.tensor([[3., 0., 1.], [0., 4., -1.]])
    f = torch.randn(2, 16)
    assert lpld_distillation(z, z.clone(), f, f.clone()).item() == pytest.approx(0., abs=1e-6)


def test_gradients_reach_the_student_only():
    z_t = torch.tensor([[3., 0., 1.]], requires_grad=True)
    f_t = torch.randn(1, 8, requires_grad=True)
    z_s = torch.tensor([[1., 0.5, 0.]], requires_grad=True)
    f_s = torch.randn(1, 8, requires_grad=True)
    lpld_distillation(z_t, z_s, f_t, f_s).backward()
    assert z_t.grad is None and f_t.grad is None
    assert z_s.grad is not None and z_s.grad.abs().sum() > 0
    # The weight is detached: no gradient through the cosine.
    assert f_s.grad is None


def test_divides_by_the_count_not_by_the_weights():
    z_t = torch.tensor([[3., 0., 1.]] * 2)
    z_s = torch.tensor([[1., 0.5, 0.]] * 2)
    f_t = torch.tensor([[1., 0.], [1., 0.]])
    f_s = torch.tensor([[0.8, 0.6], [1., 0.]])  # w = 0.2 and 0
    loss = lpld_distillation(z_t, z_s, f_t, f_s, loss_weight=0.1)
    assert loss.item() == pytest.approx(0.0102624 / 2, abs=1e-6)


def test_teacher_class_boxes():
    logits = torch.tensor([[0., 5., 1.], [0., 0., 9.]])  # class 1; background
    class_boxes = torch.arange(2 * 2 * 4, dtype=torch.float).reshape(2, 2, 4)
    proposals = torch.tensor([[1., 1., 2., 2.], [3., 3., 4., 4.]])
    labels, boxes = teacher_class_boxes(logits, class_boxes, proposals)
    assert labels.tolist() == [1, 2]
    assert boxes[0].tolist() == class_boxes[0, 1].tolist()
    assert boxes[1].tolist() == proposals[1].tolist()
    assert not math.isnan(boxes.sum().item())
