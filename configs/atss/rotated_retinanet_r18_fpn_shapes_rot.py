# Rotated RetinaNet (mmrotate's rbox le90 recipe: RetinaHead on rotated anchors, MaxIoUAssigner,
# L1 on deltas) on `shapes-rot`, ResNet-18 + FPN from scratch, the demo recipe, with
# SparseRBboxOverlaps2D in the MaxIoUAssigner: the same IoU matrix as RBboxOverlaps2D, with
# box_iou_rotated called only for pairs that can overlap (most of a CPU training step otherwise).
_base_ = ['../_base_/models/rotated_r18_fpn.py', '../_base_/datasets/shapes_rot.py',
          '../_base_/schedules/demo_iter.py', '../_base_/rotated_runtime.py']
angle_version = 'le90'
model = dict(
    type='mmdet.RetinaNet',
    neck=dict(add_extra_convs='on_input'),
    bbox_head=dict(
        type='mmdet.RetinaHead', num_classes=3, in_channels=128, stacked_convs=2, feat_channels=128,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        anchor_generator=dict(
            type='FakeRotatedAnchorGenerator', angle_version=angle_version, octave_base_scale=4,
            scales_per_octave=3, ratios=[1.0, 0.5, 2.0], strides=[8, 16, 32, 64]),
        bbox_coder=dict(
            type='DeltaXYWHTRBBoxCoder', angle_version=angle_version, norm_factor=None,
            edge_swap=True, proj_xy=True, target_means=(.0, .0, .0, .0, .0),
            target_stds=(1.0, 1.0, 1.0, 1.0, 1.0)),
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(
            type='mmdet.MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
            ignore_iof_thr=-1, iou_calculator=dict(type='SparseRBboxOverlaps2D')),
        sampler=dict(type='mmdet.PseudoSampler'), allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms_rotated', iou_threshold=0.1), max_per_img=100))
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
