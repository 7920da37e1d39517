"""SparseATSSAssigner against mmdet's ATSSAssigner and mmrotate's RotatedATSSAssigner.

Random GTs have float centres, so no two priors are at exactly the same distance from a
GT centre (the one case where the two may pick differently; see atss_rules' docstring).
"""
import math
import warnings

import pytest
import torch
from mmdet.models.task_modules.assigners import ATSSAssigner
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData
from mmrotate.models.task_modules.assigners import RBboxOverlaps2D, RotatedATSSAssigner
from mmrotate.registry import TASK_UTILS as ROT_TASK_UTILS
from mmrotate.structures.bbox import RotatedBoxes

import mmdet_ext  # noqa: F401  (registers)
from mmdet_ext.models.task_modules.assigners import SparseATSSAssigner, SparseRBboxOverlaps2D
from mmdet_ext.models.task_modules.assigners.atss_rules import box_centers, select_candidates

STRIDES = [8, 16, 32, 64, 128]


def grid_anchors(img=256, nine=False):
    """Multi-level anchors of an ``img`` x ``img`` image: ((P, 4) tensor, priors per level)."""
    if nine:  # RetinaNet-like: 3 ratios x 3 scales, 9 anchors sharing every location
        gen = AnchorGenerator(strides=STRIDES, ratios=[0.5, 1.0, 2.0], octave_base_scale=4,
                              scales_per_octave=3)
    else:  # ATSS: one square anchor a location
        gen = AnchorGenerator(strides=STRIDES, ratios=[1.0], octave_base_scale=8, scales_per_octave=1)
    levels = gen.grid_priors([(math.ceil(img / s), math.ceil(img / s)) for s in STRIDES], device='cpu')
    return torch.cat(levels), [lv.size(0) for lv in levels]


def random_gts(num, img=256, seed=0, rotated=False, margin=40):
    """Random boxes with float centres (some outside the image), 8..128 px sides."""
    gen = torch.Generator().manual_seed(seed)
    ctr = torch.rand(num, 2, generator=gen) * (img + 2 * margin) - margin
    wh = 8 + torch.rand(num, 2, generator=gen) * 120
    labels = torch.randint(0, 5, (num, ), generator=gen)
    if rotated:
        angle = (torch.rand(num, 1, generator=gen) - 0.5) * math.pi
        return torch.cat([ctr, wh, angle], dim=1), labels
    return torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1), labels


def assert_same(ref, ours):
    assert ours.num_gts == ref.num_gts
    assert torch.equal(ours.gt_inds, ref.gt_inds)
    assert torch.equal(ours.labels, ref.labels)
    assert ours.max_overlaps.shape == ref.max_overlaps.shape
    assert torch.allclose(ours.max_overlaps, ref.max_overlaps, atol=0, rtol=0)


def run_both(ref, ours, priors, nlp, gts, labels, ignore=None, ours_priors=None, ours_gts=None):
    ign = InstanceData(bboxes=ignore) if ignore is not None else None
    r = ref.assign(InstanceData(priors=priors), nlp, InstanceData(bboxes=gts, labels=labels), ign)
    o = ours.assign(InstanceData(priors=priors if ours_priors is None else ours_priors), nlp,
                    InstanceData(bboxes=gts if ours_gts is None else ours_gts, labels=labels), ign)
    assert_same(r, o)
    return r, o


@pytest.mark.parametrize('nine', [False, True])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_horizontal_parity(nine, seed):
    priors, nlp = grid_anchors(nine=nine)
    gts, labels = random_gts(40, seed=seed)
    r, o = run_both(ATSSAssigner(topk=9), SparseATSSAssigner(topk=9), priors, nlp, gts, labels)
    assert (r.gt_inds > 0).sum() > 20  # the case is not trivially empty


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('calculator', ['RBboxOverlaps2D', 'SparseRBboxOverlaps2D'])
def test_rotated_parity(seed, calculator):
    priors, nlp = grid_anchors()
    rpriors = HorizontalBoxes(priors).convert_to('rbox')
    gts, labels = random_gts(30, seed=seed, rotated=True)
    ref = RotatedATSSAssigner(topk=9, iou_calculator=dict(type='RBboxOverlaps2D'))
    ours = SparseATSSAssigner(topk=9, iou_calculator=dict(type=f'mmrotate.{calculator}')
                              if calculator == 'RBboxOverlaps2D' else dict(type=calculator))
    r, o = run_both(ref, ours, rpriors, nlp, RotatedBoxes(gts), labels)
    assert (r.gt_inds > 0).sum() > 20
    # plain (N, 5) tensors work the same
    o2 = ours.assign(InstanceData(priors=rpriors.tensor), nlp, InstanceData(bboxes=gts, labels=labels))
    assert_same(r, o2)


def test_rotated_nine_anchor_parity():
    priors, nlp = grid_anchors(img=128, nine=True)
    rpriors = HorizontalBoxes(priors).convert_to('rbox')
    gts, labels = random_gts(12, img=128, seed=3, rotated=True)
    ref = RotatedATSSAssigner(topk=9, iou_calculator=dict(type='RBboxOverlaps2D'))
    run_both(ref, SparseATSSAssigner(topk=9, iou_calculator=RBboxOverlaps2D()), rpriors, nlp,
             RotatedBoxes(gts), labels)


def test_non_grid_priors_fall_back_exactly():
    """Priors dropped (allowed_border) or shuffled within levels: no grid, chunked exact search."""
    priors, nlp = grid_anchors()
    gen = torch.Generator().manual_seed(5)
    parts, new_nlp, start = [], [], 0
    for n in nlp:
        level = priors[start:start + n]
        keep = torch.randperm(n, generator=gen)[:max(1, int(n * 0.8))]  # drop 20%, shuffled order
        parts.append(level[keep])
        new_nlp.append(keep.numel())
        start += n
    priors = torch.cat(parts)
    gts, labels = random_gts(25, seed=5)
    ours = SparseATSSAssigner(topk=9, max_elems=4096)  # small chunks: several chunk iterations
    run_both(ATSSAssigner(topk=9), ours, priors, new_nlp, gts, labels)
    assert ours.last_stats.get('dense', 0) == 25 * len(nlp) and not ours.last_stats.get('window')


def test_window_search_used_and_exact_for_far_gts():
    priors, nlp = grid_anchors()
    gts, labels = random_gts(30, seed=7, margin=300)  # many centres far outside the image
    ours = SparseATSSAssigner(topk=9)
    run_both(ATSSAssigner(topk=9), ours, priors, nlp, gts, labels)
    assert ours.last_stats['window'] > 0 and ours.last_stats['dense'] > 0


def test_zero_gt_and_zero_priors():
    priors, nlp = grid_anchors(img=64)
    empty_gt = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    for assigner in (ATSSAssigner(topk=9), SparseATSSAssigner(topk=9)):
        res = assigner.assign(InstanceData(priors=priors), nlp, empty_gt)
        assert res.num_gts == 0 and torch.equal(res.gt_inds, torch.zeros(priors.size(0), dtype=torch.long))
        assert torch.equal(res.max_overlaps, torch.zeros(priors.size(0)))
        assert torch.equal(res.labels, torch.full((priors.size(0), ), -1))
    gts, labels = random_gts(3, img=64)
    r, o = run_both(ATSSAssigner(topk=9), SparseATSSAssigner(topk=9), torch.zeros(0, 4), [0] * 5, gts, labels)
    assert o.gt_inds.numel() == 0
    rg, rl = random_gts(3, img=64, rotated=True)
    o = SparseATSSAssigner(topk=9, iou_calculator=dict(type='SparseRBboxOverlaps2D')).assign(
        InstanceData(priors=RotatedBoxes(torch.zeros(0, 5))), [0], InstanceData(bboxes=RotatedBoxes(rg), labels=rl))
    assert o.gt_inds.numel() == 0 and o.max_overlaps.numel() == 0


def test_levels_smaller_than_k():
    # 72 px image: levels of 81, 25, 9, 4 and 1 priors; with k=9 the last two are smaller than k
    priors, nlp = grid_anchors(img=72)
    assert min(nlp) < 9
    gts, labels = random_gts(10, img=72, seed=11)
    run_both(ATSSAssigner(topk=9), SparseATSSAssigner(topk=9), priors, nlp, gts, labels)
    # k larger than every level
    run_both(ATSSAssigner(topk=100), SparseATSSAssigner(topk=100), priors, nlp, gts, labels)
    # a single level of one prior: std of one value is NaN, nothing is positive (as mmdet)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        run_both(ATSSAssigner(topk=9), SparseATSSAssigner(topk=9), priors[-1:], [1], gts, labels)


@pytest.mark.parametrize('rotated', [False, True])
def test_ignore_boxes(rotated):
    priors, nlp = grid_anchors()
    gts, labels = random_gts(30, seed=13, rotated=rotated)
    ign, _ = random_gts(6, seed=14, rotated=rotated)
    if rotated:
        priors = HorizontalBoxes(priors).convert_to('rbox')
        ref = RotatedATSSAssigner(topk=9, iou_calculator=dict(type='RBboxOverlaps2D'), ignore_iof_thr=0.5)
        ours = SparseATSSAssigner(topk=9, iou_calculator=dict(type='SparseRBboxOverlaps2D'), ignore_iof_thr=0.5,
                                  max_elems=1000)
        gts, ign = RotatedBoxes(gts), RotatedBoxes(ign)
    else:
        ref = ATSSAssigner(topk=9, ignore_iof_thr=0.5)
        ours = SparseATSSAssigner(topk=9, ignore_iof_thr=0.5, max_elems=1000)
    r, o = run_both(ref, ours, priors, nlp, gts, labels, ignore=ign)
    assert (r.gt_inds == -1).sum() > 0


def test_ignore_everything():
    """All priors ignored: every level has fewer than k usable priors (INF ties, dense path)."""
    priors, nlp = grid_anchors(img=128)
    gts, labels = random_gts(8, img=128, seed=17)
    ign = torch.tensor([[-500., -500., 700., 700.]])
    r, o = run_both(ATSSAssigner(topk=9, ignore_iof_thr=0.5), SparseATSSAssigner(topk=9, ignore_iof_thr=0.5),
                    priors, nlp, gts, labels, ignore=ign)
    assert (r.gt_inds == -1).any()


def test_alpha_dynamic_cost():
    priors, nlp = grid_anchors()
    gts, labels = random_gts(20, seed=19)
    gen = torch.Generator().manual_seed(19)
    scores = torch.randn(priors.size(0), 5, generator=gen)
    preds = priors + torch.randn(priors.shape, generator=gen) * 4
    pi = InstanceData(priors=priors, scores=scores, bboxes=preds)
    gi = InstanceData(bboxes=gts, labels=labels)
    r = ATSSAssigner(topk=9, alpha=0.8).assign(pi, nlp, gi)
    o = SparseATSSAssigner(topk=9, alpha=0.8).assign(pi, nlp, gi)
    assert torch.equal(o.gt_inds, r.gt_inds) and torch.equal(o.labels, r.labels)
    assert torch.allclose(o.max_overlaps, r.max_overlaps, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match='alpha'):
        SparseATSSAssigner(topk=9, alpha=0.8).assign(InstanceData(priors=priors), nlp, gi)
    with pytest.raises(ValueError):
        SparseATSSAssigner(topk=9, alpha=2.0)


def test_registered_in_both_registries():
    assert isinstance(TASK_UTILS.build(dict(type='SparseATSSAssigner', topk=9)), SparseATSSAssigner)
    assert isinstance(ROT_TASK_UTILS.build(dict(type='SparseATSSAssigner', topk=9)), SparseATSSAssigner)
    assert isinstance(ROT_TASK_UTILS.build(dict(type='SparseRBboxOverlaps2D')), SparseRBboxOverlaps2D)


def test_candidate_shape_and_order():
    priors, nlp = grid_anchors()
    gts, _ = random_gts(17, seed=23)
    ctrs, gctrs = box_centers(priors), box_centers(gts)
    cand = select_candidates(ctrs, nlp, gctrs, 9)
    assert cand.shape == (sum(min(9, n) for n in nlp), 17)
    # every level block holds the level's nearest priors, nearest first
    dist = (ctrs[cand] - gctrs[None]).pow(2).sum(-1).sqrt()
    start = row = 0
    for n in nlp:
        block = dist[row:row + 9]
        assert torch.all(block[1:] >= block[:-1])
        assert torch.all((cand[row:row + 9] >= start) & (cand[row:row + 9] < start + n))
        start, row = start + n, row + 9


def _max_numel_during(fn):
    """Largest tensor any aten op produced while running ``fn`` (CPU; no allocator needed)."""
    dispatch = pytest.importorskip('torch.utils._python_dispatch')
    from torch.utils._pytree import tree_leaves

    class MaxNumel(dispatch.TorchDispatchMode):
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    MaxNumel.largest = max(MaxNumel.largest, t.numel())
            return out

    with MaxNumel():
        fn()
    return MaxNumel.largest


@pytest.mark.parametrize('rotated,num_gt', [(False, 3000), (True, 1000)])
def test_no_dense_priors_by_gts_tensor(rotated, num_gt):
    # P = 21,824; P x G = 65M (22M): one dense float matrix would be 262 MB (87 MB), and the
    # references make several. (Rotated: fewer GTs, since the spy also sees every one of
    # mmcv's per-pair ops.)
    priors, nlp = grid_anchors(img=1024)
    gts, labels = random_gts(num_gt, img=1024, seed=29, rotated=rotated)
    if rotated:
        priors, gts = HorizontalBoxes(priors).convert_to('rbox'), RotatedBoxes(gts)
        ours = SparseATSSAssigner(topk=9, iou_calculator=dict(type='SparseRBboxOverlaps2D'), max_elems=1 << 18)
    else:
        ours = SparseATSSAssigner(topk=9)
    pi, gi = InstanceData(priors=priors), InstanceData(bboxes=gts, labels=labels)
    largest = _max_numel_during(lambda: ours.assign(pi, nlp, gi))
    p = priors.size(0)
    assert largest < p * num_gt / 10, largest
    # the spy does see the reference's dense matrices
    small = InstanceData(bboxes=gts[:20], labels=labels[:20])
    ref = ATSSAssigner(topk=9) if not rotated else None
    if ref is not None:
        assert _max_numel_during(lambda: ref.assign(pi, nlp, small)) >= p * 20


@pytest.mark.parametrize('rotated', [False, True])
def test_distance_ties_across_kth_place_match(rotated):
    """Integer GT centres on multiples of 4 px: many priors at exactly equal distances.

    Ties straddling the k-th place go to the level-wide search (same topk as the
    references), so the candidate sets, hence the assignments, still agree.
    """
    priors, nlp = grid_anchors()
    gen = torch.Generator().manual_seed(31)
    ctr = torch.randint(0, 64, (40, 2), generator=gen).float() * 4
    wh = torch.randint(4, 32, (40, 2), generator=gen).float() * 4
    labels = torch.randint(0, 5, (40, ), generator=gen)
    if rotated:
        angle = torch.randint(-6, 6, (40, 1), generator=gen).float() * (math.pi / 12)
        gts = RotatedBoxes(torch.cat([ctr, wh, angle], dim=1))
        priors = HorizontalBoxes(priors).convert_to('rbox')
        ref = RotatedATSSAssigner(topk=9, iou_calculator=dict(type='RBboxOverlaps2D'))
        ours = SparseATSSAssigner(topk=9, iou_calculator=dict(type='SparseRBboxOverlaps2D'))
    else:
        gts = torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1)
        ref, ours = ATSSAssigner(topk=9), SparseATSSAssigner(topk=9)
    run_both(ref, ours, priors, nlp, gts, labels)
    assert ours.last_stats['dense'] > 0 and ours.last_stats['window'] > 0


def _head_targets(head_cls, assigner, feats, gt, meta, **cfg):
    from mmengine.config import ConfigDict
    torch.manual_seed(0)
    head = head_cls(num_classes=3, in_channels=32, feat_channels=32, stacked_convs=1,
                    train_cfg=ConfigDict(assigner=assigner, sampler=dict(type='PseudoSampler'), allowed_border=-1,
                                         pos_weight=-1, debug=False), **cfg)
    anchors, valid = head.get_anchors([f.shape[-2:] for f in feats], meta, device='cpu')
    return head.get_targets(anchors, valid, [gt], meta)


def _assert_same_targets(a, b):
    def tensor(x):
        return x if isinstance(x, torch.Tensor) else x.tensor
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, (list, tuple)):
            assert all(torch.equal(tensor(u), tensor(v)) for u, v in zip(x, y))
        else:
            assert x == y


def test_drop_in_for_atss_head_and_rotated_atss_head():
    """Through the heads' own get_targets (anchor generation, inside flags, levels)."""
    from mmdet.models.dense_heads import ATSSHead
    from mmrotate.models.dense_heads import RotatedATSSHead
    img = 256
    feats = [torch.rand(1, 32, img // s, img // s) for s in STRIDES]
    meta = [dict(img_shape=(img, img), pad_shape=(img, img), scale_factor=1)]
    anchor_cfg = dict(ratios=[1.0], octave_base_scale=8, scales_per_octave=1, strides=STRIDES)
    gt = InstanceData(bboxes=torch.tensor([[10., 12., 60., 70.], [50., 40., 120., 100.], [0., 0., 256., 200.]]),
                      labels=torch.tensor([0, 2, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        a = _head_targets(ATSSHead, dict(type='ATSSAssigner', topk=9), feats, gt, meta,
                          anchor_generator=dict(type='AnchorGenerator', **anchor_cfg))
        b = _head_targets(ATSSHead, dict(type='SparseATSSAssigner', topk=9), feats, gt, meta,
                          anchor_generator=dict(type='AnchorGenerator', **anchor_cfg))
        _assert_same_targets(a, b)
        rgt = InstanceData(bboxes=RotatedBoxes(torch.tensor([[40., 42., 50., 30., 0.3], [150., 120., 90., 40., -0.7]])),
                           labels=torch.tensor([0, 2]))
        rot_cfg = dict(anchor_generator=dict(type='mmrotate.FakeRotatedAnchorGenerator', angle_version='le90',
                                             **anchor_cfg),
                       bbox_coder=dict(type='mmrotate.DeltaXYWHTRBBoxCoder', angle_version='le90'))
        a = _head_targets(RotatedATSSHead, dict(type='mmrotate.RotatedATSSAssigner', topk=9,
                                                iou_calculator=dict(type='mmrotate.RBboxOverlaps2D')),
                          feats, rgt, meta, **rot_cfg)
        b = _head_targets(RotatedATSSHead, dict(type='SparseATSSAssigner', topk=9,
                                                iou_calculator=dict(type='SparseRBboxOverlaps2D')),
                          feats, rgt, meta, **rot_cfg)
        _assert_same_targets(a, b)
        assert a[-1] > 0  # positives exist


# --------------------------------------------------------------------------- many random cases
def _edge_case_gts(seed, img, rotated):
    """1..20 GTs with float centres, many partly or fully outside the image, every 5th of
    zero area (zero width for every 5th + 2); optionally rotated."""
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 21, (1, ), generator=gen))
    ctr = torch.rand(n, 2, generator=gen) * (img + 160) - 80
    wh = 4 + torch.rand(n, 2, generator=gen) * 100
    wh[::5] = 0
    wh[2::5, 0] = 0
    labels = torch.randint(0, 5, (n, ), generator=gen)
    if rotated:
        angle = (torch.rand(n, 1, generator=gen) - 0.5) * math.pi
        return torch.cat([ctr, wh, angle], dim=1), labels
    return torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1), labels


def test_horizontal_parity_50_random_cases_with_edge_boxes():
    priors, nlp = grid_anchors(img=128)
    ref, ours = ATSSAssigner(topk=9), SparseATSSAssigner(topk=9)
    outside = zero = positives = 0
    for seed in range(50):
        gts, labels = _edge_case_gts(seed, 128, rotated=False)
        r, _ = run_both(ref, ours, priors, nlp, gts, labels)
        outside += int(((gts[:, 2] < 0) | (gts[:, 0] > 128) | (gts[:, 3] < 0) | (gts[:, 1] > 128)).sum())
        zero += int(((gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1]) == 0).sum())
        positives += int((r.gt_inds > 0).sum())
    assert outside > 20 and zero > 50 and positives > 500


def test_rotated_parity_50_random_cases_with_edge_boxes():
    priors, nlp = grid_anchors(img=128)
    rpriors = HorizontalBoxes(priors).convert_to('rbox')
    ref = RotatedATSSAssigner(topk=9, iou_calculator=dict(type='RBboxOverlaps2D'))
    ours = SparseATSSAssigner(topk=9, iou_calculator=dict(type='SparseRBboxOverlaps2D'))
    positives = 0
    for seed in range(50):
        gts, labels = _edge_case_gts(100 + seed, 128, rotated=True)
        r, _ = run_both(ref, ours, rpriors, nlp, RotatedBoxes(gts), labels)
        positives += int((r.gt_inds > 0).sum())
    assert positives > 300


# --------------------------------------------------------------------------- bad input
def test_bad_input_is_named():
    priors, nlp = grid_anchors(img=64)
    rpriors = HorizontalBoxes(priors).convert_to('rbox')
    hbox = InstanceData(bboxes=torch.tensor([[4., 4., 40., 30.]]), labels=torch.tensor([1]))
    rbox = InstanceData(bboxes=torch.tensor([[20., 20., 30., 10., 0.3]]), labels=torch.tensor([1]))
    horizontal = SparseATSSAssigner(topk=9)
    rotated = SparseATSSAssigner(topk=9, iou_calculator=dict(type='SparseRBboxOverlaps2D'))
    horizontal.assign(InstanceData(priors=priors), nlp, hbox)
    rotated.assign(InstanceData(priors=rpriors), nlp, rbox)
    # wrong box types
    with pytest.raises(TypeError, match='horizontal-only BboxOverlaps2D'):
        horizontal.assign(InstanceData(priors=rpriors), nlp, rbox)
    with pytest.raises(TypeError, match='rotated ground truth needs rotated priors'):
        rotated.assign(InstanceData(priors=priors), nlp, rbox)
    with pytest.raises(TypeError, match='convert the ground truth to rotated'):
        rotated.assign(InstanceData(priors=rpriors), nlp, hbox)
    with pytest.raises(TypeError, match='handles rotated'):
        SparseATSSAssigner(topk=9, iou_calculator=dict(type='SparseRBboxOverlaps2D')).assign(
            InstanceData(priors=priors), nlp, hbox)
    with pytest.raises(TypeError, match=r'\(1, 7\)'):
        horizontal.assign(InstanceData(priors=priors), nlp, InstanceData(bboxes=torch.zeros(1, 7),
                                                                          labels=torch.tensor([1])))
    # NaN / Inf coordinates
    with pytest.raises(ValueError, match=r'gt_instances.bboxes: NaN or Inf coordinates in rows \[1\]'):
        horizontal.assign(InstanceData(priors=priors), nlp,
                          InstanceData(bboxes=torch.tensor([[4., 4., 40., 30.], [1., float('nan'), 5., 5.]]),
                                       labels=torch.tensor([1, 2])))
    with pytest.raises(ValueError, match='NaN or Inf'):
        rotated.assign(InstanceData(priors=rpriors), nlp,
                       InstanceData(bboxes=torch.tensor([[20., 20., float('inf'), 10., 0.3]]), labels=torch.tensor([1])))
    bad_priors = priors.clone()
    bad_priors[3, 0] = float('nan')
    with pytest.raises(ValueError, match='pred_instances.priors: NaN'):
        horizontal.assign(InstanceData(priors=bad_priors), nlp, hbox)
    # level counts that do not add up to the number of priors
    with pytest.raises(ValueError, match=r'num_level_priors adds up to \d+ .* but there are \d+ priors'):
        horizontal.assign(InstanceData(priors=priors), nlp[:-1], hbox)
    with pytest.raises(ValueError, match='negative'):
        horizontal.assign(InstanceData(priors=priors), [-1] + nlp[1:-1] + [nlp[-1] + nlp[0] + 1], hbox)
