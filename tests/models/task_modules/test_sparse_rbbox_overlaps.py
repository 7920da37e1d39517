"""SparseRBboxOverlaps2D gives exactly mmrotate's RBboxOverlaps2D matrix."""
import math

import pytest
import torch
from mmrotate.models.task_modules.assigners import RBboxOverlaps2D
from mmrotate.structures.bbox import RotatedBoxes

import mmdet_ext  # noqa: F401
from mmdet_ext.models.task_modules.assigners import SparseRBboxOverlaps2D


def rboxes(num, seed, img=300.0, size=(2.0, 80.0)):
    gen = torch.Generator().manual_seed(seed)
    ctr = torch.rand(num, 2, generator=gen) * img
    wh = size[0] + torch.rand(num, 2, generator=gen) * (size[1] - size[0])
    angle = (torch.rand(num, 1, generator=gen) - 0.5) * math.pi
    return torch.cat([ctr, wh, angle], dim=1)


@pytest.mark.parametrize('mode', ['iou', 'iof'])
def test_dense_parity(mode):
    b1, b2 = rboxes(400, 0), rboxes(37, 1)
    ref = RBboxOverlaps2D()(b1, b2, mode=mode)
    ours = SparseRBboxOverlaps2D()(b1, b2, mode=mode)
    assert ours.shape == ref.shape == (400, 37)
    assert torch.equal(ours, ref)
    assert (ref > 0).any() and (ref == 0).any()


@pytest.mark.parametrize('mode', ['iou', 'iof'])
def test_aligned_parity(mode):
    b1 = rboxes(500, 2)
    b2 = b1.clone()
    b2[:, :2] += torch.randn(500, 2, generator=torch.Generator().manual_seed(3)) * 40  # some overlap
    ref = RBboxOverlaps2D()(b1, b2, mode=mode, is_aligned=True)
    ours = SparseRBboxOverlaps2D()(b1, b2, mode=mode, is_aligned=True)
    assert ours.shape == ref.shape == (500, )
    assert torch.equal(ours, ref)
    assert (ref > 0).any() and (ref == 0).any()


def test_boxes_types_scores_and_edge_geometry():
    b1 = rboxes(60, 4)
    # touching / degenerate / identical / huge boxes and zero sizes (clamped to 1e-3)
    extra = torch.tensor([[10., 10., 10., 10., 0.], [20., 10., 10., 10., 0.], [10., 10., 0., 0., 0.3],
                          [10., 10., 0., 5., 0.], [150., 150., 1e4, 1e4, 0.7], [1e8, 5., 3., 3., 0.],
                          [25.0001, 10., 10., 10., math.pi / 2]])
    b1 = torch.cat([b1, extra])
    b2 = torch.cat([rboxes(20, 5), extra])
    ref = RBboxOverlaps2D()(b1, b2)
    assert torch.equal(SparseRBboxOverlaps2D()(RotatedBoxes(b1), RotatedBoxes(b2)), ref)
    scored1 = torch.cat([b1, torch.rand(b1.size(0), 1)], dim=1)
    scored2 = torch.cat([b2, torch.rand(b2.size(0), 1)], dim=1)
    assert torch.equal(SparseRBboxOverlaps2D()(scored1, scored2), ref)


def test_empty_inputs():
    calc, ref = SparseRBboxOverlaps2D(), RBboxOverlaps2D()
    b = rboxes(5, 6)
    for x, y, aligned in [(torch.zeros(0, 5), b, False), (b, torch.zeros(0, 5), False),
                          (torch.zeros(0, 5), torch.zeros(0, 5), True), (torch.zeros(0, 5), torch.zeros(0, 5), False)]:
        assert calc(x, y, is_aligned=aligned).shape == ref(x, y, is_aligned=aligned).shape


def test_skips_far_pairs():
    """Anchors over a 1024 image x a few small GTs: only a small fraction reaches mmcv."""
    from mmdet_ext.models.task_modules.assigners import sparse_rbbox_overlaps as mod
    calls = []
    orig = mod.sparse_rbbox_overlaps

    import mmcv.ops
    real = mmcv.ops.box_iou_rotated

    def spy(b1, b2, mode, aligned):
        calls.append(b1.size(0))
        return real(b1, b2, mode, aligned)

    mmcv.ops.box_iou_rotated = spy
    try:
        ys, xs = torch.meshgrid(torch.arange(64) * 16 + 8.0, torch.arange(64) * 16 + 8.0, indexing='ij')
        anchors = torch.stack([xs.flatten(), ys.flatten(), torch.full((4096, ), 64.),
                               torch.full((4096, ), 64.), torch.zeros(4096)], dim=1)
        gts = rboxes(4, 7, img=1000.0, size=(10.0, 60.0))
        out = orig(anchors, gts)
    finally:
        mmcv.ops.box_iou_rotated = real
    assert torch.equal(out, RBboxOverlaps2D()(anchors, gts))
    assert 0 < sum(calls) < 0.1 * anchors.size(0) * gts.size(0)


def test_touching_and_nearly_touching_rotated_pairs():
    """Pairs placed edge to edge (the separating-axis test's boundary), +-tiny gaps."""
    gen = torch.Generator().manual_seed(8)
    base = rboxes(300, 9, img=200.0, size=(3.0, 60.0))
    angle = base[:, 4]
    gap = torch.tensor([0.0, 1e-6, -1e-6, 1e-4, -1e-4, 1e-3, 0.02])[torch.randint(0, 7, (300, ), generator=gen)]
    along_w = torch.rand(300, generator=gen) < 0.5
    # the second box: same size and angle, shifted along the first box's width (or height) axis
    step = torch.where(along_w, base[:, 2], base[:, 3]) + gap
    ux, uy = torch.cos(angle), torch.sin(angle)
    dx = torch.where(along_w, ux, -uy) * step
    dy = torch.where(along_w, uy, ux) * step
    other = base.clone()
    other[:, 0] += dx
    other[:, 1] += dy
    for aligned in (True, False):
        ref = RBboxOverlaps2D()(base, other, is_aligned=aligned)
        assert torch.equal(SparseRBboxOverlaps2D()(base, other, is_aligned=aligned), ref)


def test_separating_axis_drops_rotated_non_overlapping_pairs():
    """Elongated rotated GTs: the circumscribed-box test keeps many pairs that cannot
    intersect; after the separating-axis test almost every kernel call is a real overlap."""
    import mmcv.ops
    from mmdet_ext.models.task_modules.assigners import sparse_rbbox_overlaps as mod
    ys, xs = torch.meshgrid(torch.arange(48) * 8 + 4.0, torch.arange(48) * 8 + 4.0, indexing='ij')
    anchors = torch.stack([xs.flatten(), ys.flatten(), torch.full((2304, ), 16.), torch.full((2304, ), 16.),
                           torch.zeros(2304)], dim=1)
    gts = torch.tensor([[100., 120., 160., 20., math.pi / 4], [250., 200., 120., 12., -math.pi / 3]])
    calls, real = [], mmcv.ops.box_iou_rotated

    def spy(b1, b2, mode, aligned):
        calls.append(b1.size(0))
        return real(b1, b2, mode, aligned)

    mmcv.ops.box_iou_rotated = spy
    try:
        out = mod.sparse_rbbox_overlaps(anchors, gts)
    finally:
        mmcv.ops.box_iou_rotated = real
    ref = RBboxOverlaps2D()(anchors, gts)
    assert torch.equal(out, ref)
    nonzero = int((ref > 0).sum())
    # circumscribed boxes alone would send about twice the overlapping pairs
    e = mod._circumscribed(mod._prepare(gts), mod._margin(mod._prepare(anchors), mod._prepare(gts)))
    r1 = mod._circumscribed(mod._prepare(anchors), 0.0)
    loose = int(mod._may_overlap(r1[:, :, None], e[:, None, :]).sum())
    assert loose > 1.5 * nonzero
    assert nonzero <= sum(calls) <= 1.05 * nonzero + 5
