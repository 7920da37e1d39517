# Baseline for Faster R-CNN + PConv on `shapes`: mmdet's Faster R-CNN with the demo recipe
# (ResNet-18 from scratch, FPN 128 channels P2-P6, AdamW 1e-3, 700 iterations, batch 8).
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py', '../_base_/datasets/shapes.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
model = dict(
    backbone=dict(depth=18, init_cfg=None, norm_eval=False, frozen_stages=-1),
    neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=128, num_outs=5),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=128), bbox_head=dict(in_channels=128, num_classes=3)))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
