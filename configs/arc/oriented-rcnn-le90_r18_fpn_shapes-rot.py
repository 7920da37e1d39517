# Baseline for ARC on the generated `shapes-rot` data: MMRotate's Oriented R-CNN (le90,
# ./_base_/oriented_rcnn_r50_fpn_le90.py) shrunk to a plain ResNet-18 + FPN (128 ch, P2-P6) from
# scratch, the demo's budget (configs/_base_/schedules/demo_iter.py: batch 8, AdamW 1e-3, 700
# iterations, seed 0). Shrunk for 256x256 images and a CPU: RPN anchors of 16-256 px, 500
# proposals, a 256-wide box head, SparseRBboxOverlaps2D (mmdet_ext; the same IoU matrix as
# RBboxOverlaps2D) in the R-CNN assigner. All ops have CPU kernels in mmcv 2.1.0
# (RoIAlignRotated, nms_rotated, box_iou_rotated).
_base_ = ['./_base_/oriented_rcnn_r50_fpn_le90.py', '../_base_/datasets/shapes_rot.py',
          '../_base_/schedules/demo_iter.py', '../_base_/rotated_runtime.py']
proposals = dict(nms_pre=1000, max_per_img=500)
model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128, anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=256, num_classes=3)),
    train_cfg=dict(
        rpn_proposal=proposals,
        rcnn=dict(assigner=dict(iou_calculator=dict(type='SparseRBboxOverlaps2D')), sampler=dict(num=256))),
    test_cfg=dict(rpn=proposals, rcnn=dict(nms_pre=1000, max_per_img=100)))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
