# Faster R-CNN + PConv (plain neck) on `shapes` with the demo recipe: ResNet-18, FPN 128 channels
# P2-P6, 4 PConv blocks (plain=True), RPN + RoI head consuming one feature per level.
_base_ = ['mmdet::_base_/models/faster-rcnn_r50_fpn.py', '../_base_/datasets/shapes.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
model = dict(
    backbone=dict(depth=18, init_cfg=None, norm_eval=False, frozen_stages=-1),
    neck=[dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=128, num_outs=5),
          dict(type='SEPC', in_channels=128, num_levels=5, num_blocks=4, plain=True)],
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=128), bbox_head=dict(in_channels=128, num_classes=3)))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
