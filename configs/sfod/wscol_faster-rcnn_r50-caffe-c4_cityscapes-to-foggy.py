# Mean teacher + WSCoL, Cityscapes -> Foggy Cityscapes (the paper's setting): HPL above 0.9,
# teacher EMA k = 0.9 once per epoch. The mapping network reads the C4 box head's input (the
# res5 shared head's 2048 x 7 x 7 RoI features) and maps back to the classifier's 2048-d input.
_base_ = ['./mean-teacher_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']
wscol = dict(type='WSCoLLoss', num_classes=8, in_channels=2048, roi_size=7, shared_channels=2048,
             conv_channels=256, fc_channels=1024, embed_dims=512, memory_length=10, prototype_keep=0.6,
             num_proposals=300, cluster_iters=4, hpl_iou_thr=0.5, num_neighbours=10, temperature=0.07,
             objectness_thr=0.5, variance_thr=20., min_foreground=3, contrast_weight=0.5,
             distill_weight=1.0)
model = dict(adaptations=[wscol], semi_train_cfg=dict(pseudo_thr=0.9))
custom_hooks = [dict(type='TeacherEMAHook', keep_rate=0.9, by_epoch=True)]
