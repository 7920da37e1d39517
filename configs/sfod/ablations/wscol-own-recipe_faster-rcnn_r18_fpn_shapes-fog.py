# One-variable ablation of the shapes WSCoL config: WSCoL's own recipe (HPL above 0.9, teacher EMA
# k = 0.9 once per target epoch, as in the Cityscapes config) instead of the mean teacher's 0.7 / 0.75.
_base_ = ['../wscol_faster-rcnn_r18_fpn_shapes-fog.py']

model = dict(semi_train_cfg=dict(pseudo_thr=0.9))
custom_hooks = [dict(type='TeacherEMAHook', keep_rate=0.9, by_epoch=True)]
