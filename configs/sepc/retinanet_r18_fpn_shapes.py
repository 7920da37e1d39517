# Baseline for the SEPC comparison on `shapes`: RetinaNet with the demo recipe (ResNet-18 + FPN,
# 128 channels, P3-P6, from scratch, AdamW 1e-3, 700 iterations, batch 8) and a 4-conv GN tower
# per branch (the SEPC variants replace it with 4 PConvs + cconv / lconv: the same conv count).
_base_ = ['../_base_/models/atss_r18_fpn.py', '../_base_/datasets/shapes.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
model = dict(
    type='RetinaNet',
    bbox_head=dict(
        _delete_=True, type='RetinaHead', num_classes=3, in_channels=128, stacked_convs=4, feat_channels=128,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0], target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms=dict(type='nms', iou_threshold=0.5)))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
