# Source-free mean teacher on `shapes-fog` (specs/sfod.md section 0): the source-trained
# Faster R-CNN R-18 (../faster-rcnn_r18_fpn_shapes-fog-source.py) is loaded into student and
# teacher; training reads unlabelled target images only (no LoadAnnotations: the detector
# refuses target boxes), as a weak view (resize + flip) for the teacher and a strong view (the
# same geometry + StrongPhotometricAugment) for the student; the teacher is evaluated.
_base_ = ['../../_base_/models/faster-rcnn_r18_fpn.py', '../../_base_/datasets/shapes_fog.py',
          '../../_base_/default_runtime.py']

detector = _base_.model
# Teacher RPN in test mode as the references (NMS 0.7, keep 300) but pre-NMS 1000 per level, not
# 6000: a 256x256 image has ~8k anchors in all, and CPU NMS over 6000 boxes per level took a third
# of an adaptation step (py-spy). The Cityscapes configs keep 6000.
detector.test_cfg.rpn = dict(nms_pre=1000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.7),
                             min_bbox_size=0)
model = dict(
    _delete_=True,
    type='SourceFreeMeanTeacher',
    detector=detector,
    adaptations=[],
    data_preprocessor=dict(type='MultiBranchDataPreprocessor', data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(pseudo_thr=0.7, unsup_weight=1.0, min_pseudo_bbox_wh=(1e-2, 1e-2)),
    semi_test_cfg=dict(predict_on='teacher'))
# Where `tools/train.py configs/sfod/faster-rcnn_r18_fpn_shapes-fog-source.py` leaves its
# last checkpoint; required (TeacherEMAHook refuses to adapt without one).
load_from = 'work_dirs/faster-rcnn_r18_fpn_shapes-fog-source/iter_700.pth'

meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
             'flip_direction', 'homography_matrix')
adapt_pipeline = [
    dict(type='LoadImageFromFile', backend_args=_base_.backend_args),
    dict(type='Resize', scale=_base_.img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiBranch', branch_field=['unsup_teacher', 'unsup_student'],
         unsup_teacher=[dict(type='PackDetInputs', meta_keys=meta_keys)],
         unsup_student=[dict(type='StrongPhotometricAugment'),
                        dict(type='PackDetInputs', meta_keys=meta_keys)]),
]
target_train = _base_.target_train
target_train.pipeline = adapt_pipeline
train_dataloader = dict(
    _delete_=True, batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=target_train)

# Iteration-based (an infinite sampler never ends an epoch); one target epoch = 75 iterations.
max_iters = 375
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=75)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# The references' optimiser: SGD 1e-3, momentum 0.9, wd 1e-4, constant learning rate.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4),
                     clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)]
custom_hooks = [dict(type='TeacherEMAHook', keep_rate=0.75, by_epoch=True)]
default_hooks = dict(checkpoint=dict(interval=75))
val_evaluator = [
    dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area'),
    dict(type='CocoMetric', ann_file='data/shapes_fog/target/annotations/instances_test.json',
         metric='bbox', format_only=False),
]
test_evaluator = val_evaluator
randomness = dict(seed=0)
