# One-variable ablation of NSA with the spec's consistency factor 0.1 (where it was measured) on
# `shapes-fog`: no pull of the student toward the teacher in stage
# 2 (NSAStageHook keeps only its keep-rate switch, as in the UDA baseline); everything else as NSA.
_base_ = ['./nsa-spec-factor_faster-rcnn_r18_fpn_shapes-fog.py']

custom_hooks = [
    dict(type='TeacherEMAHook', keep_rate=0.96, by_epoch=False, interval=5),
    dict(type='NSAStageHook', stage2_begin=0.5, stage_keep_rates=(0.96, 0.92), pull_interval=0),
]
