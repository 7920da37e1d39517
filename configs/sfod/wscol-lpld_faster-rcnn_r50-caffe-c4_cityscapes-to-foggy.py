# Mean teacher + WSCoL + LPLD, Cityscapes -> Foggy Cityscapes, with WSCoL's recipe (HPL above
# 0.9, EMA k = 0.9 per epoch).
_base_ = ['./wscol_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']
model = dict(adaptations=[
    _base_.wscol,
    dict(type='LPLDLoss', num_proposals=300, iou_thr=0.4, fg_prob_thr=0.9, bg_prob_thr=0.99, loss_weight=0.1),
])
