"""SparseFSAFAssigner against mmdet's CenterRegionAssigner + FSAFHead, and the paper's rules.

* ``regions()`` = CenterRegionAssigner (gt_inds, labels, shadowed (prior, class) pairs) on
  random cases with ignore boxes, boxes partly / fully outside the image, zero-area boxes.
* ``assign(mode='mmdet')`` = FSAFHead.loss_by_feat's final positives and ignored (prior,
  class) pairs (label weight 0), recorded from mmdet's own head on the same predictions.
* ``assign(mode='paper')`` = a dense, loop-per-GT transcription of the paper's rules.
"""
import math

import pytest
import torch
from mmdet.models.dense_heads import FSAFHead
from mmdet.models.task_modules.assigners import CenterRegionAssigner
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import TASK_UTILS
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from mmrotate.registry import TASK_UTILS as ROT_TASK_UTILS

import mmdet_ext  # noqa: F401  (registers)
from mmdet_ext.models.task_modules.assigners import SparseFSAFAssigner
from tests.models.task_modules.test_sparse_atss_assigner import _max_numel_during

STRIDES = [8, 16, 32, 64, 128]
NUM_CLASSES = 3


def fsaf_priors(img=256, strides=STRIDES):
    """One stride-sized square anchor a location (mmdet's FSAF): ((P, 4), priors per level)."""
    gen = AnchorGenerator(strides=strides, ratios=[1.0], octave_base_scale=1, scales_per_octave=1)
    levels = gen.grid_priors([(math.ceil(img / s), math.ceil(img / s)) for s in strides], device='cpu')
    return torch.cat(levels), [lv.size(0) for lv in levels]


def random_case(seed, img=256, max_gts=25):
    """GTs with float coordinates: some outside the image, every 7th of zero area; labels."""
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, max_gts, (1, ), generator=gen))
    ctr = torch.rand(n, 2, generator=gen) * (img + 100) - 50
    wh = torch.rand(n, 2, generator=gen) * 180
    wh[::7] = 0
    wh[3::7, 0] = 0  # zero width only
    boxes = torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1)
    labels = torch.randint(0, NUM_CLASSES, (n, ), generator=gen)
    ignore = None
    if seed % 3 == 0:
        ignore = InstanceData(bboxes=torch.cat([ctr[:2] - 30, ctr[:2] + 30], dim=1))
    return InstanceData(bboxes=boxes, labels=labels), ignore


def as_set(pairs):
    return set(map(tuple, pairs.tolist()))


@pytest.mark.parametrize('neg_scale,foreground_dominate', [(0.2, False), (0.5, False), (0.5, True)])
def test_regions_match_center_region_assigner(neg_scale, foreground_dominate):
    priors, nlp = fsaf_priors()
    ours = SparseFSAFAssigner(mode='mmdet', neg_scale=neg_scale, foreground_dominate=foreground_dominate)
    ref = CenterRegionAssigner(pos_scale=0.2, neg_scale=neg_scale, min_pos_iof=0.01,
                               foreground_dominate=foreground_dominate)
    positives = shadows = 0
    for seed in range(50):
        gt, ignore = random_case(seed)
        r = ref.assign(InstanceData(priors=priors), gt, ignore)
        o = ours.regions(InstanceData(priors=priors), nlp, gt, ignore)
        assert torch.equal(o.gt_inds, r.gt_inds), seed
        assert torch.equal(o.labels, r.labels), seed
        assert as_set(o.get_extra_property('shadowed_labels')) == as_set(r.get_extra_property('shadowed_labels')), seed
        positives += int((r.gt_inds > 0).sum())
        shadows += r.get_extra_property('shadowed_labels').size(0)
    assert positives > 500 and shadows > 100  # the cases exercise both regions


# --------------------------------------------------------------------------- mmdet mode
def mmdet_fsaf_head(strides=STRIDES):
    return FSAFHead(
        num_classes=NUM_CLASSES, in_channels=8, stacked_convs=0, feat_channels=8, reg_decoded_bbox=True,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1, ratios=[1.0],
                              strides=strides),
        bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0, reduction='none'),
        loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=1.0, reduction='none'),
        train_cfg=ConfigDict(assigner=dict(type='CenterRegionAssigner', pos_scale=0.2, neg_scale=0.2,
                                           min_pos_iof=0.01),
                             sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False))


def reference_selection(head, cls_scores, bbox_preds, gts, metas, ignores=None):
    """Run FSAFHead.loss_by_feat; per image the final positives {(prior, gt)} and the
    (prior, class) pairs whose classification weight is 0 (targets + reweighting)."""
    record = {'rw': []}
    get_targets, reweight = head.get_targets, head.reweight_loss_single

    def spy_targets(*args, **kwargs):
        record['targets'] = get_targets(*args, **kwargs)
        return record['targets']

    def spy_reweight(cls_loss, reg_loss, assigned_gt_inds, labels, level, min_levels):
        before = (assigned_gt_inds >= 0).clone()
        out = reweight(cls_loss, reg_loss, assigned_gt_inds, labels, level, min_levels)
        record['rw'].append((before, out[2].clone(), assigned_gt_inds.clone(), labels.clone()))
        return out

    head.get_targets, head.reweight_loss_single = spy_targets, spy_reweight
    head.loss_by_feat([c.clone() for c in cls_scores], [b.clone() for b in bbox_preds], gts, metas, ignores)
    label_weights = record['targets'][1]
    level_sizes = [c.shape[-2] * c.shape[-1] for c in cls_scores]
    out = []
    for i in range(len(gts)):
        first_gt = sum(len(g) for g in gts[:i])
        pos, ignored, offset = set(), set(), 0
        for (before, after, gt_inds, labels), weights, n in zip(record['rw'], label_weights, level_sizes):
            rows = slice(i * n, (i + 1) * n)
            before, after, gt_inds, labels = before[rows], after[rows], gt_inds[rows], labels[rows]
            pos |= {(int(p) + offset, int(gt_inds[p]) - first_gt) for p in after.nonzero().flatten()}
            ignored |= {(int(p) + offset, int(c)) for p, c in (weights[i] == 0).nonzero()}
            ignored |= {(int(p) + offset, int(labels[p])) for p in (before & ~after).nonzero().flatten()}
            offset += n
        out.append((pos, ignored))
    return out


def our_selection(assigner, head, cls_scores, bbox_preds, gts, metas, ignores=None):
    """The same through SparseFSAFAssigner, image by image, on the full prior grid."""
    sizes = [c.shape[-2:] for c in cls_scores]
    anchors, valids = head.get_anchors(sizes, metas, device='cpu')
    nlp = [a.size(0) for a in anchors[0]]
    priors = torch.cat(anchors[0])
    out, results = [], []
    for i, gt in enumerate(gts):
        scores = torch.cat([c[i].permute(1, 2, 0).reshape(-1, NUM_CLASSES) for c in cls_scores])
        dists = torch.cat([b[i].clamp(min=1e-4).permute(1, 2, 0).reshape(-1, 4) for b in bbox_preds])
        valid = torch.cat(valids[i])
        res = assigner.assign(InstanceData(priors=priors, scores=scores, bboxes=head.bbox_coder.decode(priors, dists),
                                           valid_flags=valid), nlp, gt, ignores[i] if ignores else None)
        pos = {(int(p), int(res.gt_inds[p]) - 1) for p in (res.gt_inds > 0).nonzero().flatten()}
        ignored = as_set(res.get_extra_property('shadowed_labels'))
        whole_rows = (~valid | (res.gt_inds < 0)).nonzero().flatten().tolist()  # the head zeroes these rows
        ignored |= {(p, c) for p in whole_rows for c in range(NUM_CLASSES)}
        out.append((pos, ignored))
        results.append(res)
    return out, results


def random_predictions(seed, sizes, num_imgs):
    """Logits and distances with a per-level offset, so that GTs pick different levels."""
    gen = torch.Generator().manual_seed(1000 + seed)
    cls_scores, bbox_preds = [], []
    for h, w in sizes:
        bias = float(torch.randn(1, generator=gen)) * 2
        cls_scores.append(torch.randn(num_imgs, NUM_CLASSES, h, w, generator=gen) * 2 + bias)
        bbox_preds.append(torch.rand(num_imgs, 4, h, w, generator=gen) * float(torch.rand(1, generator=gen) * 4))
    return cls_scores, bbox_preds


def test_mmdet_mode_matches_fsaf_head_selection():
    head = mmdet_fsaf_head()
    ours = SparseFSAFAssigner(mode='mmdet')
    pad = (256, 256)
    sizes = [(math.ceil(pad[0] / s), math.ceil(pad[1] / s)) for s in STRIDES]
    # the second image is smaller than the padded batch: its priors over padding are invalid
    metas = [dict(img_shape=(256, 256), pad_shape=pad, scale_factor=(1., 1.)),
             dict(img_shape=(200, 232), pad_shape=pad, scale_factor=(1., 1.))]
    levels_seen, num_pos = set(), 0
    for seed in range(20):
        gts, ignores = [], []
        for i in range(2):
            gt, ignore = random_case(2 * seed + i, max_gts=15)
            gts.append(gt)
            ignores.append(ignore if ignore is not None else InstanceData(bboxes=torch.zeros(0, 4)))
        cls_scores, bbox_preds = random_predictions(seed, sizes, 2)
        ref = reference_selection(head, cls_scores, bbox_preds, gts, metas, ignores)
        got, results = our_selection(ours, head, cls_scores, bbox_preds, gts, metas, ignores)
        for i, ((rp, ri), (op, oi)) in enumerate(zip(ref, got)):
            assert op == rp, (seed, i)
            assert oi == ri, (seed, i)
            num_pos += len(rp)
        for res in results:
            has_pos = torch.zeros(res.num_gts, dtype=torch.bool)
            has_pos[(res.gt_inds[res.gt_inds > 0] - 1).unique()] = True
            levels_seen |= set(res.get_extra_property('selected_levels')[has_pos].tolist())
    assert num_pos > 300 and len(levels_seen) >= 3  # GTs trained on several levels


# --------------------------------------------------------------------------- paper mode
def dense_paper_reference(priors, nlp, gt, scores, preds, assigner):
    """The paper's rules, written densely with a loop over GTs (for checking only)."""
    from mmdet.structures.bbox import bbox_overlaps
    boxes, labels = gt.bboxes, gt.labels
    P, G, L = priors.size(0), boxes.size(0), len(nlp)
    level = torch.repeat_interleave(torch.arange(L), torch.tensor(nlp))
    ctr = (priors[:, :2] + priors[:, 2:]) / 2

    def scaled(s):
        c, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2 * s
        return torch.cat([c - half, c + half], dim=1)

    inside = ((ctr[:, None, 0] > boxes[None, :, 0]) & (ctr[:, None, 0] < boxes[None, :, 2])
              & (ctr[:, None, 1] > boxes[None, :, 1]) & (ctr[:, None, 1] < boxes[None, :, 3]))
    core = inside & (bbox_overlaps(priors, scaled(0.2), mode='iof') > 0.01)  # (P, G)
    in_ignoring_box = bbox_overlaps(priors, scaled(0.5), mode='iof') > 0.01
    selected = torch.zeros(G, dtype=torch.long)
    for g in range(G):
        best = 1e6
        for lvl in range(L):
            idx = (core[:, g] & (level == lvl)).nonzero().flatten()
            if idx.numel() == 0:
                continue
            target = torch.full((idx.numel(), ), int(labels[g]))
            cls = assigner.loss_cls(scores[idx], target, reduction_override='none').sum(-1)
            reg = assigner.loss_bbox(preds[idx], boxes[g].expand(idx.numel(), 4), reduction_override='none')
            mean = float((cls + reg).mean())
            if mean < best - 1e-5:  # strictly better (the rule keeps the first level on ties)
                best, selected[g] = mean, lvl
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    gt_inds = torch.zeros(P, dtype=torch.long)
    best_area = torch.full((P, ), float('inf'))
    shadows = set()
    for g in sorted(range(G), key=lambda g: (-float(area[g]), g)):  # smaller areas override
        on = level == selected[g]
        core_g = (core[:, g] & on).nonzero().flatten()
        for p in core_g.tolist():
            if gt_inds[p] > 0:
                shadows.add((p, int(labels[gt_inds[p] - 1])))  # the loser of the pair
            gt_inds[p], best_area[p] = g + 1, area[g]
        near = (level - selected[g]).abs() <= 1
        ign = in_ignoring_box[:, g] & near & ~(core[:, g] & on)
        shadows |= {(p, int(labels[g])) for p in ign.nonzero().flatten().tolist()}
    # priors that ended positive for g must not carry a shadow of g itself
    shadows = {(p, c) for p, c in shadows}
    pos_label = torch.where(gt_inds > 0, labels[(gt_inds - 1).clamp(min=0)], torch.full((P, ), -1))
    for p, c in list(shadows):
        if pos_label[p] == c:  # foreground_dominate=False: a clashing positive turns negative
            gt_inds[p] = 0
    return gt_inds, shadows, selected


def test_paper_mode_matches_dense_transcription():
    priors, nlp = fsaf_priors(img=128, strides=[8, 16, 32, 64])
    ours = SparseFSAFAssigner(mode='paper')
    levels_seen, adjacent_ignores = set(), 0
    for seed in range(25):
        gt, _ = random_case(seed, img=128, max_gts=10)
        gen = torch.Generator().manual_seed(seed)
        scores = torch.randn(priors.size(0), NUM_CLASSES, generator=gen) * 2
        preds = priors + torch.randn(priors.shape, generator=gen) * 10
        preds[:, 2:] = torch.maximum(preds[:, 2:], preds[:, :2] + 1)
        res = ours.assign(InstanceData(priors=priors, scores=scores, bboxes=preds), nlp, gt)
        ref_inds, ref_shadows, ref_sel = dense_paper_reference(priors, nlp, gt, scores, preds, ours)
        has_core = (res.get_extra_property('level_losses') < 1e6).any(0)
        assert torch.equal(res.get_extra_property('selected_levels')[has_core], ref_sel[has_core]), seed
        assert torch.equal(res.gt_inds, ref_inds), seed
        assert as_set(res.get_extra_property('shadowed_labels')) == ref_shadows, seed
        levels_seen |= set(ref_sel[has_core].tolist())
        # shadows on a level where no GT of that class was selected: adjacent-level ignoring
        level = torch.repeat_interleave(torch.arange(len(nlp)), torch.tensor(nlp))
        trained = {(int(lvl), int(c)) for lvl, c in zip(ref_sel[has_core], gt.labels[has_core])}
        adjacent_ignores += sum((int(level[p]), c) not in trained for p, c in ref_shadows)
    assert len(levels_seen) >= 3 and adjacent_ignores > 0


def test_paper_mode_positives_only_on_selected_level():
    priors, nlp = fsaf_priors()
    level = torch.repeat_interleave(torch.arange(len(nlp)), torch.tensor(nlp))
    gt, _ = random_case(5)
    gen = torch.Generator().manual_seed(5)
    scores = torch.randn(priors.size(0), NUM_CLASSES, generator=gen)
    preds = priors + torch.randn(priors.shape, generator=gen) * 8
    res = SparseFSAFAssigner(mode='paper').assign(InstanceData(priors=priors, scores=scores, bboxes=preds), nlp, gt)
    pos = (res.gt_inds > 0).nonzero().flatten()
    sel = res.get_extra_property('selected_levels')
    assert pos.numel() > 0
    assert torch.equal(level[pos], sel[res.gt_inds[pos] - 1])
    losses = res.get_extra_property('level_losses')
    assert torch.equal(losses.min(0)[1], sel)


# --------------------------------------------------------------------------- edge cases
def test_empty_inputs_and_non_grid_priors():
    priors, nlp = fsaf_priors(img=128)
    scores, preds = torch.zeros(priors.size(0), NUM_CLASSES), priors.clone()
    ours = SparseFSAFAssigner(mode='mmdet')
    empty = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    res = ours.assign(InstanceData(priors=priors, scores=scores, bboxes=preds), nlp, empty)
    assert torch.equal(res.gt_inds, torch.zeros(priors.size(0), dtype=torch.long)) and res.num_gts == 0
    gt, _ = random_case(3, img=128)
    res = ours.assign(InstanceData(priors=torch.zeros(0, 4), scores=torch.zeros(0, 3), bboxes=torch.zeros(0, 4)),
                      [0] * 5, gt)
    assert res.gt_inds.numel() == 0
    # priors shuffled within each level: no grid, the chunked fallback gives the same regions
    perm = torch.cat([torch.randperm(n, generator=torch.Generator().manual_seed(0)) + s
                      for s, n in zip([0] + list(torch.tensor(nlp).cumsum(0)[:-1].tolist()), nlp)])
    for seed in range(5):
        gt, ignore = random_case(seed, img=128)
        a = ours.regions(InstanceData(priors=priors), nlp, gt, ignore)
        b = SparseFSAFAssigner(mode='mmdet', max_elems=512).regions(InstanceData(priors=priors[perm]), nlp, gt, ignore)
        assert torch.equal(a.gt_inds[perm], b.gt_inds)
        sh_a = {(int(torch.nonzero(perm == p)), c) for p, c in a.get_extra_property('shadowed_labels').tolist()}
        assert sh_a == as_set(b.get_extra_property('shadowed_labels'))


def test_bad_input_is_named():
    priors, nlp = fsaf_priors(img=64)
    pi = InstanceData(priors=priors, scores=torch.zeros(priors.size(0), 3), bboxes=priors.clone())
    ours = SparseFSAFAssigner()
    good = InstanceData(bboxes=torch.tensor([[4., 4., 40., 30.]]), labels=torch.tensor([1]))
    ours.assign(pi, nlp, good)
    with pytest.raises(TypeError, match='rotated|horizontal boxes only'):
        ours.assign(pi, nlp, InstanceData(bboxes=torch.tensor([[20., 20., 10., 5., 0.3]]), labels=torch.tensor([1])))
    with pytest.raises(TypeError, match=r'\(1, 7\)'):
        ours.assign(pi, nlp, InstanceData(bboxes=torch.zeros(1, 7), labels=torch.tensor([1])))
    with pytest.raises(ValueError, match='NaN'):
        ours.assign(pi, nlp, InstanceData(bboxes=torch.tensor([[4., float('nan'), 40., 30.]]),
                                          labels=torch.tensor([1])))
    with pytest.raises(ValueError, match='num_level_priors adds up to'):
        ours.assign(pi, nlp[:-1], good)
    with pytest.raises(ValueError, match='scores'):
        ours.assign(InstanceData(priors=priors), nlp, good)
    with pytest.raises(ValueError, match='mode'):
        SparseFSAFAssigner(mode='anchor-free')
    with pytest.raises(ValueError, match='min_pos_iof'):
        SparseFSAFAssigner(min_pos_iof=-0.1)


def test_registered_and_no_dense_priors_by_gts_tensor():
    assert isinstance(TASK_UTILS.build(dict(type='SparseFSAFAssigner')), SparseFSAFAssigner)
    assert isinstance(ROT_TASK_UTILS.build(dict(type='SparseFSAFAssigner', mode='mmdet')), SparseFSAFAssigner)
    priors, nlp = fsaf_priors(img=1024)  # P = 21,824
    gen = torch.Generator().manual_seed(7)
    num_gt = 2000
    ctr = torch.rand(num_gt, 2, generator=gen) * 1024
    wh = 8 + torch.rand(num_gt, 2, generator=gen) * 120
    gt = InstanceData(bboxes=torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1),
                      labels=torch.randint(0, NUM_CLASSES, (num_gt, ), generator=gen))
    pi = InstanceData(priors=priors, scores=torch.randn(priors.size(0), NUM_CLASSES, generator=gen),
                      bboxes=priors + torch.randn(priors.shape, generator=gen))
    for mode in ('paper', 'mmdet'):
        largest = _max_numel_during(lambda: SparseFSAFAssigner(mode=mode).assign(pi, nlp, gt))
        assert largest < priors.size(0) * num_gt / 50, (mode, largest)
