# Mean teacher + WSCoL on `shapes-fog` (specs/sfod.md section 2). WSCoL's recipe: HPL above
# 0.9, teacher EMA k = 0.9 once per target epoch. The mapping network reads the box head's input
# (128 x 7 x 7 RoI features of the R-18 FPN) and maps back to the classifier's 256-d input; its
# hidden widths are narrowed (64 conv / 512 fc channels) for the CPU budget of the demo detector.
_base_ = ['./_base_/mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py']
wscol = dict(type='WSCoLLoss', num_classes=3, in_channels=128, roi_size=7, shared_channels=256,
             conv_channels=64, fc_channels=512, embed_dims=512, memory_length=10, prototype_keep=0.6,
             num_proposals=300, cluster_iters=4, hpl_iou_thr=0.5, num_neighbours=10, temperature=0.07,
             objectness_thr=0.5, variance_thr=20., min_foreground=3, contrast_weight=0.5,
             distill_weight=1.0)
model = dict(adaptations=[wscol], semi_train_cfg=dict(pseudo_thr=0.9))
custom_hooks = [dict(type='TeacherEMAHook', keep_rate=0.9, by_epoch=True)]
