# Rotated ATSS (mmrotate's RotatedATSSHead, le90) on `shapes-rot`, ResNet-18 + FPN from scratch,
# the demo recipe (configs/demo), with SparseATSSAssigner computing rotated IoU only for the
# candidates (SparseRBboxOverlaps2D, same values as mmrotate's RBboxOverlaps2D).
# Box loss: KLD (mmrotate's GDLoss), because RotatedIoULoss (mmrotate's rotated-ATSS config)
# needs diff_iou_rotated_2d, which has no CPU kernel in mmcv 2.1.0.
_base_ = ['../_base_/models/rotated_r18_fpn.py', '../_base_/datasets/shapes_rot.py',
          '../_base_/schedules/demo_iter.py', '../_base_/rotated_runtime.py']
angle_version = 'le90'
model = dict(
    type='mmdet.RetinaNet',
    bbox_head=dict(
        type='RotatedATSSHead', num_classes=3, in_channels=128, stacked_convs=2, feat_channels=128,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        anchor_generator=dict(
            type='FakeRotatedAnchorGenerator', angle_version=angle_version, octave_base_scale=4,
            scales_per_octave=1, ratios=[1.0], strides=[8, 16, 32, 64]),
        bbox_coder=dict(
            type='DeltaXYWHTRBBoxCoder', angle_version=angle_version, norm_factor=None,
            edge_swap=True, proj_xy=True, target_means=(.0, .0, .0, .0, .0),
            target_stds=(1.0, 1.0, 1.0, 1.0, 1.0)),
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GDLoss', loss_type='kld', fun='log1p', tau=1.0, loss_weight=1.0),
        loss_centerness=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type='SparseATSSAssigner', topk=9,
                      iou_calculator=dict(type='SparseRBboxOverlaps2D')),
        sampler=dict(type='mmdet.PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms_rotated', iou_threshold=0.1), max_per_img=100))
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
