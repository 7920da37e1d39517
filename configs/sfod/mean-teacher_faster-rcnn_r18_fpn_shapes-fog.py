# Plain source-free mean teacher on `shapes-fog` (no adaptation loss).
_base_ = ['./_base_/mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py']
