# One-variable ablation of WSCoL on `shapes-fog`: the plain mean teacher's recipe (pseudo labels
# above 0.7, teacher EMA k = 0.75 once per target epoch) instead of WSCoL's 0.9 / 0.9, so that the
# comparison with the mean teacher differs only by the WSCoL loss. Why: with 5 target epochs and
# k = 0.9 per epoch the evaluated teacher keeps 0.9^5 = 59 % of the source weights (0.75^5 = 24 %).
_base_ = ['../wscol_faster-rcnn_r18_fpn_shapes-fog.py']

model = dict(semi_train_cfg=dict(pseudo_thr=0.7))
custom_hooks = [dict(type='TeacherEMAHook', keep_rate=0.75, by_epoch=True)]
