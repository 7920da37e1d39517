# Mean teacher + WSCoL + LPLD on `shapes-fog`: both adaptation losses on one teacher pass, on the
# mean teacher's recipe like the WSCoL config; LPLD mines its low-confidence labels away from the
# HPL as in its own config.
_base_ = ['./wscol_faster-rcnn_r18_fpn_shapes-fog.py']
model = dict(adaptations=[
    _base_.wscol,
    dict(type='LPLDLoss', num_proposals=300, iou_thr=0.4, fg_prob_thr=0.9, bg_prob_thr=0.99, loss_weight=0.1),
])
