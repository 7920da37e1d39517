# NSA, Cityscapes -> Foggy Cityscapes (specs/sfod.md section 3): the UDA baseline (R-50-C4
# instead of the reference's VGG16, see there) + heavy view (geometric + strong photometric),
# light view (NSALightDisturb) with NSAConsistencyLoss (internal / external consistency,
# prototype contrast; proposals from the single C4 level), and the staged schedule: teacher EMA
# every 100 iterations (keep 0.99, then 0.92), student pulled toward the teacher every 200
# iterations of stage 2 (student share 0.5: the spec gives no value).
_base_ = ['./uda-baseline_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']

model = dict(adaptations=[dict(type='NSAConsistencyLoss', num_proposals=128, min_visible=0.6, min_size=10.,
                               max_area_frac=0.75, fg_iou=0.5, roi_bg_weight=0.01)])
meta_keys = _base_.meta_keys
branches = ['sup', 'unsup_teacher', 'unsup_student', 'unsup_light']
geometric = [[dict(type='Rotate', min_mag=0., max_mag=30.)],
             [dict(type='ShearX', min_mag=0., max_mag=30.)],
             [dict(type='ShearY', min_mag=0., max_mag=30.)],
             [dict(type='TranslateX', min_mag=0., max_mag=0.1)],
             [dict(type='TranslateY', min_mag=0., max_mag=0.1)]]
source_train = _base_.source_train
source_train.pipeline[-1].branch_field = branches
target_train = _base_.target_train
target_train.pipeline[-1] = dict(
    type='MultiBranch', branch_field=branches,
    unsup_teacher=[dict(type='PackDetInputs', meta_keys=meta_keys)],
    unsup_student=[dict(type='RandAugment', aug_space=geometric, aug_num=1),
                   dict(type='StrongPhotometricAugment'), dict(type='PackDetInputs', meta_keys=meta_keys)],
    unsup_light=[dict(type='NSALightDisturb', scale_range=(0.9, 1.1), max_shift=0.0625, flip_prob=0.5),
                 dict(type='PackDetInputs', meta_keys=meta_keys)])
train_dataloader = dict(dataset=dict(datasets=[source_train, target_train]))
custom_hooks = [
    dict(type='TeacherEMAHook', keep_rate=0.99, by_epoch=False, interval=100),
    dict(type='NSAStageHook', stage2_begin=0.5, stage_keep_rates=(0.99, 0.92), pull_interval=200,
         student_keep=0.5),
]
