# Mean teacher + LPLD on `shapes-fog`: one line more than the plain mean teacher.
_base_ = ['./_base_/mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py']
model = dict(adaptations=[dict(type='LPLDLoss', num_proposals=300, iou_thr=0.4, fg_prob_thr=0.9,
                               bg_prob_thr=0.99, loss_weight=0.1)])
