# Baseline for ARC on the generated `shapes-rot` data: Oriented R-CNN (le90), plain ResNet-18 +
# FPN (128 ch, P2-P6) from scratch, the demo's budget (configs/_base_/schedules/demo_iter.py:
# batch 8, AdamW 1e-3, 700 iterations, seed 0). Shrunk for 256x256 images and a CPU: RPN anchors
# of 16-256 px, 500 proposals, a 256-wide box head, SparseRBboxOverlaps2D (mmdet_ext; the same
# IoU matrix as RBboxOverlaps2D) in the R-CNN assigner. All ops have CPU kernels in mmcv 2.1.0
# (RoIAlignRotated, nms_rotated, box_iou_rotated).
_base_ = ['../_base_/datasets/shapes_rot.py', '../_base_/schedules/demo_iter.py',
          '../_base_/rotated_runtime.py']
angle_version = 'le90'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='mmdet.FasterRCNN',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32, boxtype2tensor=False),
    backbone=dict(
        type='mmdet.ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
        norm_cfg=norm_cfg, norm_eval=False, style='pytorch', init_cfg=None),
    neck=dict(type='mmdet.FPN', in_channels=[64, 128, 256, 512], out_channels=128, num_outs=5),
    rpn_head=dict(
        type='OrientedRPNHead', in_channels=128, feat_channels=128,
        anchor_generator=dict(type='mmdet.AnchorGenerator', scales=[4], ratios=[0.5, 1.0, 2.0],
                              strides=[4, 8, 16, 32, 64], use_box_type=True),
        bbox_coder=dict(type='MidpointOffsetCoder', angle_version=angle_version,
                        target_means=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                        target_stds=[1.0, 1.0, 1.0, 1.0, 0.5, 0.5]),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=0.1111111111111111, loss_weight=1.0)),
    roi_head=dict(
        type='mmdet.StandardRoIHead',
        bbox_roi_extractor=dict(
            type='RotatedSingleRoIExtractor',
            roi_layer=dict(type='RoIAlignRotated', out_size=7, sample_num=2, clockwise=True),
            out_channels=128, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='mmdet.Shared2FCBBoxHead', predict_box_type='rbox', in_channels=128,
            fc_out_channels=256, roi_feat_size=7, num_classes=3,
            reg_predictor_cfg=dict(type='mmdet.Linear'), cls_predictor_cfg=dict(type='mmdet.Linear'),
            bbox_coder=dict(type='DeltaXYWHTRBBoxCoder', angle_version=angle_version,
                            norm_factor=None, edge_swap=True, proj_xy=True,
                            target_means=(.0, .0, .0, .0, .0), target_stds=(0.1, 0.1, 0.2, 0.2, 0.1)),
            reg_class_agnostic=True,
            loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(type='mmdet.MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3,
                          min_pos_iou=0.3, match_low_quality=True, ignore_iof_thr=-1,
                          iou_calculator=dict(type='RBbox2HBboxOverlaps2D')),
            sampler=dict(type='mmdet.RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1,
                         add_gt_as_proposals=False),
            allowed_border=0, pos_weight=-1, debug=False),
        rpn_proposal=dict(nms_pre=1000, max_per_img=500, nms=dict(type='nms', iou_threshold=0.8),
                          min_bbox_size=0),
        rcnn=dict(
            assigner=dict(type='mmdet.MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5,
                          min_pos_iou=0.5, match_low_quality=False,
                          iou_calculator=dict(type='SparseRBboxOverlaps2D'), ignore_iof_thr=-1),
            sampler=dict(type='mmdet.RandomSampler', num=256, pos_fraction=0.25, neg_pos_ub=-1,
                         add_gt_as_proposals=True),
            pos_weight=-1, debug=False)),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=500, nms=dict(type='nms', iou_threshold=0.8),
                 min_bbox_size=0),
        rcnn=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms_rotated', iou_threshold=0.1), max_per_img=100)))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
