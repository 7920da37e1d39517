# Rotated ATSS R-50 FPN 1x on DOTA-v1.0 (le90): mmrotate's rotated-atss-le90_r50_fpn_1x_dota
# recipe (model, SGD lr 0.0025 x batch 2, 12 epochs) with SparseATSSAssigner + SparseRBboxOverlaps2D
# (same assignments as RotatedATSSAssigner, memory and time bounded at thousands of objects) and
# KLD as box loss: RotatedIoULoss needs diff_iou_rotated_2d, which has no CPU kernel in mmcv 2.1.0
# (on a GPU machine, `loss_bbox=dict(type='RotatedIoULoss', mode='linear', loss_weight=2.0)`
# restores mmrotate's exact config).
# Data: DOTA split into 1024 patches (README: tools/data/dota/split.py); trained on train/,
# validated on val/ (mmrotate's base validates on its own training split).
_base_ = './rotated_atss_r18_fpn_shapes_rot.py'
dataset_type = 'DOTADataset'
data_root = 'data/split_ss_dota/'
model = dict(
    backbone=dict(
        depth=50, out_indices=(0, 1, 2, 3), frozen_stages=1, norm_eval=True,
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(in_channels=[256, 512, 1024, 2048], out_channels=256, start_level=1,
              add_extra_convs='on_input', num_outs=5),
    bbox_head=dict(
        num_classes=15, in_channels=256, stacked_convs=4, feat_channels=256,
        anchor_generator=dict(strides=[8, 16, 32, 64, 128])),
    test_cfg=dict(nms_pre=2000, max_per_img=2000))
img_scale = (1024, 1024)
train_pipeline = [
    dict(type='mmdet.LoadImageFromFile', backend_args=None),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='mmdet.PackDetInputs')
]
val_pipeline = [
    dict(type='mmdet.LoadImageFromFile', backend_args=None),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=2, num_workers=2, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root, ann_file='train/annfiles/',
                 data_prefix=dict(img_path='train/images/'), filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2,
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root, ann_file='val/annfiles/',
                 data_prefix=dict(img_path='val/images/'), test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
# mmrotate's 1x schedule
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.0025, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=True),
    checkpoint=dict(_delete_=True, type='CheckpointHook', interval=1))
log_processor = dict(by_epoch=True)
auto_scale_lr = dict(enable=False, base_batch_size=2)
