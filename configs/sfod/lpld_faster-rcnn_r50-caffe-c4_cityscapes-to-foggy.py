# Mean teacher + LPLD, Cityscapes -> Foggy Cityscapes (the paper's setting).
_base_ = ['./mean-teacher_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']
model = dict(adaptations=[dict(type='LPLDLoss', num_proposals=300, iou_thr=0.4, fg_prob_thr=0.9,
                               bg_prob_thr=0.99, loss_weight=0.1)])
