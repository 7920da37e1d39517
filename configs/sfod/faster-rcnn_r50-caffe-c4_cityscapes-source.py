# Source model for Cityscapes -> Foggy Cityscapes (specs/sfod.md section 0): Faster R-CNN
# R-50-C4 (ImageNet caffe weights, frozen BN), short side 600, the 8 Cityscapes classes,
# trained on labelled Cityscapes train. Data layout (mmdet's Cityscapes converter,
# `python tools/dataset_converters/cityscapes.py data/cityscapes` from MMDetection):
#   data/cityscapes/leftImg8bit/{train,val}/
#   data/cityscapes/annotations/instancesonly_filtered_gtFine_{train,val}.json
# See configs/sfod/README.md. Its last checkpoint is the adaptation configs' `load_from`.
_base_ = ['mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py', 'mmdet::_base_/datasets/cityscapes_detection.py',
          '../_base_/default_runtime.py']
model = dict(roi_head=dict(bbox_head=dict(num_classes=8)))
img_scale = (1200, 600)  # short side 600 (2048x1024 -> 1200x600)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=2, dataset=dict(times=2, dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area'),
    dict(type='CocoMetric', ann_file='data/cityscapes/annotations/instancesonly_filtered_gtFine_val.json',
         metric='bbox'),
]
test_evaluator = val_evaluator
# SGD 0.01 for 8 images (4 GPUs x 2), 500-iteration warm-up, 10 epochs of 2 x train, step at 8.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=10, milestones=[8], gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
                     checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=2,
                                     save_last=True))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
auto_scale_lr = dict(enable=False, base_batch_size=8)
