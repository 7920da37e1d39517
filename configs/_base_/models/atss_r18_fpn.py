# ATSS, ResNet-18 + FPN (128 channels, P3-P6) and a 2-conv GN head, for 256x256 inputs
# trained from scratch: the demo detector of the embedded data.
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='ATSS',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
        norm_cfg=norm_cfg, norm_eval=False, style='pytorch', init_cfg=None),
    neck=dict(
        type='FPN', in_channels=[128, 256, 512], out_channels=128, start_level=0,
        add_extra_convs='on_output', num_outs=4),
    bbox_head=dict(
        type='ATSSHead', num_classes=3, in_channels=128, stacked_convs=2, feat_channels=128,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        anchor_generator=dict(
            type='AnchorGenerator', ratios=[1.0], octave_base_scale=4, scales_per_octave=1,
            strides=[8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1, pos_weight=-1,
                   debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.6), max_per_img=100))
