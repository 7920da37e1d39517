# NSA on `shapes-fog` (specs/sfod.md section 3) = the UDA baseline + the three disturbances:
# - heavy image-level: the student's target view gets a random geometric change (rotate /
#   shear up to 30 degrees or a shift up to 10%, homography recorded) before the strong
#   photometric one; the teacher's detections are projected into it (external consistency);
# - light image-level: a third target view `unsup_light` (resize 0.9-1.1, shift <= 6.25%,
#   flip p 0.5) feeds NSAConsistencyLoss (internal + external consistency);
# - instance-level prototype contrast (inside NSAConsistencyLoss);
# - the staged schedule: from half-way the student is pulled toward the teacher.
_base_ = ['./_base_/uda-mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py']

# The consistency losses are added with factor 0.01, not the spec's 0.1 (the spec's inner weights
# unchanged): on shapes-fog (R-18 from the source checkpoint, 375 iterations) the weighted terms at
# 0.1 are ~3x the detection losses and NSA ended 4.9 / 7.5 AP50 below its baseline; at 0.01 it is above
# it (configs/nsa/README.md; the 0.1 run is configs/nsa/ablations/nsa-spec-factor_*). Like the EMA
# cadence below, a scaling of the recipe to this dataset; the Cityscapes config keeps 0.1.
model = dict(adaptations=[dict(type='NSAConsistencyLoss', num_proposals=128, min_visible=0.6, min_size=10.,
                               max_area_frac=0.75, fg_iou=0.5, roi_bg_weight=0.01, weights=dict(factor=0.01))])

meta_keys = _base_.meta_keys
branches = ['sup', 'unsup_teacher', 'unsup_student', 'unsup_light']
geometric = [[dict(type='Rotate', min_mag=0., max_mag=30.)],
             [dict(type='ShearX', min_mag=0., max_mag=30.)],
             [dict(type='ShearY', min_mag=0., max_mag=30.)],
             [dict(type='TranslateX', min_mag=0., max_mag=0.1)],
             [dict(type='TranslateY', min_mag=0., max_mag=0.1)]]
heavy_view = [dict(type='RandAugment', aug_space=geometric, aug_num=1),
              dict(type='StrongPhotometricAugment'), dict(type='PackDetInputs', meta_keys=meta_keys)]
light_view = [dict(type='NSALightDisturb', scale_range=(0.9, 1.1), max_shift=0.0625, flip_prob=0.5),
              dict(type='PackDetInputs', meta_keys=meta_keys)]
source_train = _base_.source_train
source_train.pipeline[-1].branch_field = branches
target_train = _base_.target_train
target_train.pipeline[-1] = dict(
    type='MultiBranch', branch_field=branches,
    unsup_teacher=[dict(type='PackDetInputs', meta_keys=meta_keys)],
    unsup_student=heavy_view, unsup_light=light_view)
train_dataloader = dict(dataset=dict(datasets=[source_train, target_train]))

custom_hooks = [
    dict(type='TeacherEMAHook', keep_rate=0.96, by_epoch=False, interval=5),
    dict(type='NSAStageHook', stage2_begin=0.5, stage_keep_rates=(0.96, 0.92), pull_interval=50,
         student_keep=0.5),
]
