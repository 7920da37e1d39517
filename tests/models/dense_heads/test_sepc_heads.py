"""SEPC head adapters: output shapes on (cls, reg) pairs, a loss on a random batch, input checks."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet_ext.models.dense_heads.sepc_heads import SEPCATSSHead, SEPCFreeAnchorRetinaHead, SEPCFSAFHead, SEPCRetinaHead
from mmdet_ext.models.necks import SEPC

C = 16
STRIDES = [8, 16, 32, 64]
RETINA_ANCHORS = dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                      strides=STRIDES)
MAX_IOU = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                             ignore_iof_thr=-1), sampler=dict(type='PseudoSampler'), allowed_border=-1,
               pos_weight=-1, debug=False)
HEADS = {
    'retina': (SEPCRetinaHead, dict(anchor_generator=RETINA_ANCHORS), MAX_IOU, 2),
    'free_anchor': (SEPCFreeAnchorRetinaHead, dict(anchor_generator=RETINA_ANCHORS), MAX_IOU, 2),
    'fsaf': (SEPCFSAFHead, dict(
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1, ratios=[1.0],
                              strides=STRIDES),
        bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0), reg_decoded_bbox=True,
        # FSAF reweights per-element losses: both need reduction='none' (as mmdet's FSAF config).
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0,
                      reduction='none'),
        loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=1.0, reduction='none')),
        dict(assigner=dict(type='CenterRegionAssigner', pos_scale=0.2, neg_scale=0.2, min_pos_iof=0.01),
             allowed_border=-1, pos_weight=-1, debug=False), 2),
    'atss': (SEPCATSSHead, dict(anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8,
                                                      scales_per_octave=1, strides=STRIDES),
                                loss_bbox=dict(type='GIoULoss', loss_weight=2.0)),
             dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1, pos_weight=-1, debug=False), 3),
}


def build(name):
    cls, kwargs, train_cfg, _ = HEADS[name]
    return cls(num_classes=3, in_channels=C, train_cfg=ConfigDict(train_cfg), **kwargs)


def batch():
    gen = torch.Generator().manual_seed(0)
    feats = tuple(torch.randn(2, C, 128 // s, 128 // s, generator=gen) for s in STRIDES)
    samples = []
    for i in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(128, 128), pad_shape=(128, 128), batch_input_shape=(128, 128),
                                        scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 60., 70.], [70., 20., 120., 90.]]),
                                      labels=torch.tensor([0, 2]))
        samples.append(s)
    return feats, samples


@pytest.mark.parametrize('name', sorted(HEADS))
def test_adapter_outputs_and_loss(name):
    head = build(name)
    assert len(head.cls_convs) == 0 and len(head.reg_convs) == 0
    feats, samples = batch()
    pairs = SEPC(C, num_levels=4, ibn=True, extra_deform=True)(feats)
    outs = head(pairs)
    assert len(outs) == HEADS[name][3]
    for lvl, x in enumerate(feats):
        assert outs[0][lvl].shape[-2:] == x.shape[-2:]
        assert outs[0][lvl].shape[1] == head.num_base_priors * head.cls_out_channels
    losses = head.loss(pairs, samples)
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(t.sum() for t in v) for v in losses.values())
    assert torch.isfinite(total)
    total.backward()


def test_plain_features_are_refused():
    head = build('retina')
    feats, _ = batch()
    with pytest.raises(TypeError, match=r'expects one \(cls_feat, reg_feat\) pair per level .* received \(2, 16, 16, 16\)'):
        head(feats)


def test_tower_is_refused():
    with pytest.raises(ValueError, match='expected stacked_convs=0, received 4'):
        SEPCRetinaHead(num_classes=3, in_channels=C, stacked_convs=4, anchor_generator=RETINA_ANCHORS)
    with pytest.raises(ValueError, match=r'feat_channels must equal in_channels \(16\), received 32'):
        SEPCATSSHead(num_classes=3, in_channels=C, feat_channels=32)
