# NSA's UDA baseline, Cityscapes (labelled) -> Foggy Cityscapes (unlabelled, beta 0.02).
# Detector: the reference used VGG16 Faster R-CNN; MMDetection 3.3 has no VGG16 Faster R-CNN
# backbone, so we use the source-free configs' Faster R-CNN R-50-C4 (caffe, frozen BN), short
# side 600, loaded from the Cityscapes source checkpoint (configs/sfod/...-source.py, the
# burn-in stage). Batch 2 per GPU = 1 labelled source + 1 unlabelled target image (two-source
# sampler over ConcatDataset [Cityscapes train, Foggy train]); pseudo labels > 0.65; teacher EMA
# every 100 iterations, keep 0.99 in stage 1 and 0.92 in stage 2 (from half-way). SGD 1e-3
# constant as the source-free configs (NSA's training script was never released).
_base_ = ['../sfod/mean-teacher_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']

model = dict(type='DomainAdaptiveMeanTeacher',
             semi_train_cfg=dict(pseudo_thr=0.65, unsup_weight=1.0, sup_weight=1.0))
meta_keys = _base_.meta_keys
branches = ['sup', 'unsup_teacher', 'unsup_student']
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=_base_.img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiBranch', branch_field=branches, sup=[dict(type='PackDetInputs', meta_keys=meta_keys)]),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=_base_.img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiBranch', branch_field=branches,
         unsup_teacher=[dict(type='PackDetInputs', meta_keys=meta_keys)],
         unsup_student=[dict(type='StrongPhotometricAugment'), dict(type='PackDetInputs', meta_keys=meta_keys)]),
]
source_train = dict(type='CityscapesDataset', data_root=_base_.data_root,
                    ann_file='annotations/instancesonly_filtered_gtFine_train.json',
                    data_prefix=dict(img='leftImg8bit/train/'),
                    filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=source_pipeline)
target_train = dict(type='CityscapesDataset', data_root=_base_.data_root, ann_file=_base_.foggy_train_ann,
                    data_prefix=dict(img='leftImg8bit_foggy/train/'),
                    filter_cfg=dict(filter_empty_gt=False), pipeline=target_pipeline)
batch_size = 2
train_dataloader = dict(
    _delete_=True, batch_size=batch_size, num_workers=2, persistent_workers=True,
    sampler=dict(type='MultiSourceSampler', batch_size=batch_size, source_ratio=[1, 1]),
    dataset=dict(type='ConcatDataset', datasets=[source_train, target_train]))
max_iters = 30000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5000))
custom_hooks = [
    dict(type='TeacherEMAHook', keep_rate=0.99, by_epoch=False, interval=100),
    dict(type='NSAStageHook', stage2_begin=0.5, stage_keep_rates=(0.99, 0.92), pull_interval=0),
]
