# The rotated demo: mmrotate's rotated FCOS (le90), ResNet-18 + FPN from scratch on `shapes-rot`.
# Box loss: the horizontal-IoU + angle-L1 variant of mmrotate's rotated-fcos-hbox config, because
# RotatedIoULoss needs mmcv's diff_iou_rotated_2d, which has no CPU kernel in mmcv 2.1.0.
_base_ = ['../_base_/models/rotated_r18_fpn.py', '../_base_/datasets/shapes_rot.py',
          '../_base_/schedules/demo_iter.py', '../_base_/rotated_runtime.py']
angle_version = 'le90'
model = dict(
    type='mmdet.FCOS',
    neck=dict(relu_before_extra_convs=True),
    bbox_head=dict(
        type='RotatedFCOSHead', num_classes=3, in_channels=128, stacked_convs=2, feat_channels=128,
        strides=[8, 16, 32, 64], regress_ranges=((-1, 32), (32, 64), (64, 128), (128, 1e8)),
        center_sampling=True, center_sample_radius=1.5, norm_on_bbox=True, centerness_on_reg=True,
        use_hbbox_loss=True, scale_angle=True,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        bbox_coder=dict(type='DistanceAnglePointCoder', angle_version=angle_version),
        angle_coder=dict(type='PseudoAngleCoder'),
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='mmdet.IoULoss', loss_weight=1.0),
        loss_angle=dict(type='mmdet.L1Loss', loss_weight=0.2),
        loss_centerness=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=None,
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms_rotated', iou_threshold=0.1), max_per_img=100))
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
