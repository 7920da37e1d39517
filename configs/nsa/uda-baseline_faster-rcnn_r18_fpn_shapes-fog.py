# NSA's own baseline on `shapes-fog`: teacher-student with source labels and target pseudo
# labels (score > 0.65), no NSA term (no heavy geometric view, no light view, no consistency,
# no prototype contrast, no student pull).
_base_ = ['./_base_/uda-mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py']
