# Reference: mmdet's own FSAF (FSAFHead = anchor-free branch only, CenterRegionAssigner 0.2/0.2,
# loss-reweighting level selection), on the demo recipe: ResNet-18 + FPN from scratch on `shapes`.
_base_ = ['../_base_/models/atss_r18_fpn.py', '../_base_/datasets/shapes.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
strides = [8, 16, 32, 64]
model = dict(
    type='FSAF',
    bbox_head=dict(
        _delete_=True,
        type='FSAFHead', num_classes=3, in_channels=128, stacked_convs=2, feat_channels=128,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        reg_decoded_bbox=True,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1,
                              ratios=[1.0], strides=strides),
        bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0,
                      reduction='none'),
        loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=1.0, reduction='none')),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(type='CenterRegionAssigner', pos_scale=0.2, neg_scale=0.2, min_pos_iof=0.01),
        allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
