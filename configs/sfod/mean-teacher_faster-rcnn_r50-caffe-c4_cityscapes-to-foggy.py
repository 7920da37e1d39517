# Source-free mean teacher, Cityscapes -> Foggy Cityscapes (beta 0.02), the references' recipe
# (specs/sfod.md section 0): the source Faster R-CNN R-50-C4 loaded into student and teacher,
# unlabelled Foggy train images only, batch 1, SGD 1e-3 constant, teacher EMA once per epoch
# (k = 0.75 as LPLD), 10 epochs, evaluate the last teacher on Foggy val (VOC area AP50).
# Foggy images keep Cityscapes' annotations under new file names: make the annotation files with
#   python tools/data/cityscapes/foggy_annotations.py data/cityscapes --beta 0.02
_base_ = ['./faster-rcnn_r50-caffe-c4_cityscapes-source.py']

detector = _base_.model
detector.test_cfg.rpn = dict(nms_pre=6000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7),
                             min_bbox_size=0)
detector.test_cfg.rcnn = dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
model = dict(
    _delete_=True,
    type='SourceFreeMeanTeacher',
    detector=detector,
    adaptations=[],
    data_preprocessor=dict(type='MultiBranchDataPreprocessor', data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(pseudo_thr=0.7, unsup_weight=1.0),
    semi_test_cfg=dict(predict_on='teacher'))
load_from = 'work_dirs/faster-rcnn_r50-caffe-c4_cityscapes-source/epoch_10.pth'

data_root = 'data/cityscapes/'
foggy_train_ann = 'annotations/instancesonly_filtered_gtFine_train_foggy_beta_0.02.json'
foggy_val_ann = 'annotations/instancesonly_filtered_gtFine_val_foggy_beta_0.02.json'
meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
             'homography_matrix')
adapt_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=_base_.img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiBranch', branch_field=['unsup_teacher', 'unsup_student'],
         unsup_teacher=[dict(type='PackDetInputs', meta_keys=meta_keys)],
         unsup_student=[dict(type='StrongPhotometricAugment'), dict(type='PackDetInputs', meta_keys=meta_keys)]),
]
train_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='CityscapesDataset', data_root=data_root, ann_file=foggy_train_ann,
                 data_prefix=dict(img='leftImg8bit_foggy/train/'),
                 filter_cfg=dict(filter_empty_gt=False), pipeline=adapt_pipeline))
val_dataloader = dict(dataset=dict(ann_file=foggy_val_ann, data_prefix=dict(img='leftImg8bit_foggy/val/')))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area'),
    dict(type='CocoMetric', ann_file=data_root + foggy_val_ann, metric='bbox'),
]
test_evaluator = val_evaluator
# 2975 Foggy train images, batch 1: 2975 iterations an epoch, 10 epochs.
max_iters = 29750
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2975)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)]
custom_hooks = [dict(type='TeacherEMAHook', keep_rate=0.75, by_epoch=True)]
default_hooks = dict(logger=dict(interval=50, log_metric_by_epoch=False),
                     checkpoint=dict(by_epoch=False, interval=2975))
log_processor = dict(by_epoch=False)
