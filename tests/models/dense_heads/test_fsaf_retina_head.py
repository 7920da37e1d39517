"""FSAFRetinaHead: RetinaNet's branch unchanged, the anchor-free branch = mmdet's FSAF, merged."""
import copy
import math

import pytest
import torch
from mmdet.models.dense_heads import FSAFHead, RetinaHead
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

import mmdet_ext  # noqa: F401  (registers)
from mmdet_ext.models.dense_heads import FSAFRetinaHead

STRIDES = [8, 16, 32, 64]
C = 3
TEST_CFG = ConfigDict(nms_pre=200, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=50)
AF = dict(anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1, ratios=[1.0],
                                strides=STRIDES))
RETINA = dict(
    num_classes=C, in_channels=16, stacked_convs=2, feat_channels=16,
    anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                          strides=STRIDES),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0]),
    loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0))
TRAIN = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
             sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False)


def batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats = [torch.randn(2, 16, math.ceil(128 / s), math.ceil(128 / s), generator=gen) for s in STRIDES]
    metas = [dict(img_shape=(128, 128), pad_shape=(128, 128), scale_factor=(2., 2.)),
             dict(img_shape=(100, 120), pad_shape=(128, 128), scale_factor=(1., 1.))]
    gts = []
    for n in (4, 2):
        ctr = torch.rand(n, 2, generator=gen) * 100 + 10
        wh = torch.rand(n, 2, generator=gen) * 60 + 6
        gts.append(InstanceData(bboxes=torch.cat([ctr - wh / 2, ctr + wh / 2], 1),
                                labels=torch.randint(0, C, (n, ), generator=gen)))
    return feats, metas, gts


def randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def total(losses, keys):
    return sum(sum(losses[k]) if isinstance(losses[k], (list, tuple)) else losses[k] for k in keys)


def test_anchor_based_branch_is_retina_head():
    ours = FSAFRetinaHead(**RETINA, anchor_free=AF, train_cfg=ConfigDict(TRAIN), test_cfg=TEST_CFG)
    ref = RetinaHead(**RETINA, train_cfg=ConfigDict(TRAIN), test_cfg=TEST_CFG)
    randomise(ours, 0)
    missing, unexpected = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not missing and all(k.startswith('af_head.') for k in unexpected)
    feats, metas, gts = batch()
    outs = ours(feats)
    ref_outs = ref(feats)
    for a, b in zip(outs[:2], ref_outs):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    lo = ours.loss_by_feat(*outs, gts, metas)
    lr = ref.loss_by_feat(*ref_outs, gts, metas)
    assert torch.allclose(total(lo, ['loss_cls']), total(lr, ['loss_cls']))
    assert torch.allclose(total(lo, ['loss_bbox']), total(lr, ['loss_bbox']))
    assert {'loss_cls_af', 'loss_bbox_af'} <= set(lo)
    total(lo, lo.keys()).backward()
    assert ours.af_head.retina_cls.weight.grad.abs().sum() > 0 and ours.retina_cls.weight.grad.abs().sum() > 0


def test_anchor_free_only_matches_mmdet_fsaf_head():
    """Same weights, same inputs: the anchor-free loss equals mmdet FSAFHead's (mode='mmdet')."""
    af = dict(AF, loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
              loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=1.0))
    ours = FSAFRetinaHead(num_classes=C, in_channels=16, stacked_convs=2, feat_channels=16, anchor_free=af,
                          with_anchor_based=False, test_cfg=TEST_CFG,
                          train_cfg=ConfigDict(af_assigner=dict(type='SparseFSAFAssigner', mode='mmdet'),
                                               allowed_border=-1, pos_weight=-1, debug=False))
    assert not hasattr(ours, 'retina_cls')
    ref = FSAFHead(num_classes=C, in_channels=16, stacked_convs=2, feat_channels=16, reg_decoded_bbox=True,
                   anchor_generator=AF['anchor_generator'], bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0),
                   loss_cls=dict(af['loss_cls'], reduction='none'), loss_bbox=dict(af['loss_bbox'], reduction='none'),
                   train_cfg=ConfigDict(assigner=dict(type='CenterRegionAssigner', pos_scale=0.2, neg_scale=0.2,
                                                      min_pos_iof=0.01), sampler=dict(type='PseudoSampler'),
                                        allowed_border=-1, pos_weight=-1, debug=False), test_cfg=TEST_CFG)
    for seed in range(3):
        randomise(ours, seed)
        state = {k.replace('af_head.', ''): v for k, v in ours.state_dict().items()}
        ref.load_state_dict(state)
        feats, metas, gts = batch(seed)
        lo = ours.loss_by_feat(*ours(feats), gts, metas)
        lr = ref.loss_by_feat(*ref(feats), gts, metas)
        assert set(lo) == {'loss_cls_af', 'loss_bbox_af'}
        assert torch.allclose(lo['loss_cls_af'], total(lr, ['loss_cls']), rtol=1e-5), seed
        assert torch.allclose(lo['loss_bbox_af'], total(lr, ['loss_bbox']), rtol=1e-5), seed
        # and the same detections at test time
        with torch.no_grad():
            po = ours.predict_by_feat(*ours(feats), batch_img_metas=metas, rescale=True)
            pr = ref.predict_by_feat(*ref(feats), batch_img_metas=metas, rescale=True)
        for a, b in zip(po, pr):
            assert torch.allclose(a.bboxes, b.bboxes) and torch.equal(a.labels, b.labels)


def test_predict_merges_both_branches_before_one_nms(monkeypatch):
    head = FSAFRetinaHead(**RETINA, anchor_free=AF, train_cfg=ConfigDict(TRAIN), test_cfg=TEST_CFG)
    randomise(head, 3)
    feats, metas, _ = batch()
    seen = []
    post = head._bbox_post_process

    def spy(results, cfg, rescale=False, with_nms=True, img_meta=None):
        n_in = len(results)
        out = post(results, cfg, rescale=rescale, with_nms=with_nms, img_meta=img_meta)
        seen.append((n_in if with_nms else len(out), with_nms))  # NMS input / branch output
        return out

    monkeypatch.setattr(head, '_bbox_post_process', spy)
    with torch.no_grad():
        res = head.predict_by_feat(*head(feats), batch_img_metas=metas, rescale=True, cfg=dict(TEST_CFG, score_thr=0.0))
    # per image: the anchor-based candidates, then one NMS over both branches together
    assert [w for _, w in seen] == [False, True, False, True]
    with torch.no_grad():
        af_only = head.af_head._predict_by_feat_single(
            [f[0] for f in head(feats)[2]], [f[0] for f in head(feats)[3]], [None] * 4,
            head.af_head.prior_generator.grid_priors([f.shape[-2:] for f in feats], device='cpu'), metas[0],
            ConfigDict(TEST_CFG, score_thr=0.0), rescale=True, with_nms=False)
    assert seen[1][0] == seen[0][0] + len(af_only)
    assert all(len(r) <= TEST_CFG.max_per_img for r in res)
    assert res[0].bboxes.max() <= 128 / 2 + 1e-3  # rescaled to the original image (scale factor 2)


def test_config_build_and_bad_anchor_free_generator():
    head = MODELS.build(dict(type='FSAFRetinaHead', **RETINA, anchor_free=AF, train_cfg=TRAIN, test_cfg=TEST_CFG))
    assert type(head.af_assigner).__name__ == 'SparseFSAFAssigner' and head.af_assigner.mode == 'paper'
    bad = copy.deepcopy(AF)
    bad['anchor_generator']['ratios'] = [0.5, 1.0]
    with pytest.raises(ValueError, match='one anchor a location'):
        FSAFRetinaHead(**RETINA, anchor_free=bad)
