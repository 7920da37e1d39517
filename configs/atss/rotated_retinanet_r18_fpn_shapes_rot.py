# Rotated RetinaNet (mmrotate's rbox le90 recipe: RetinaHead on rotated anchors, MaxIoUAssigner,
# L1 on deltas) on `shapes-rot`, ResNet-18 + FPN from scratch, the demo recipe, with
# SparseRBboxOverlaps2D in the MaxIoUAssigner: the same IoU matrix as RBboxOverlaps2D, with
# box_iou_rotated called only for pairs that can overlap (most of a CPU training step otherwise).
# The ARC baseline's detector (same head, assigner and recipe) with mmrotate's anchors: 9 a
# location (3 scales x 3 ratios), strides 8..64.
_base_ = ['../arc/rotated-retinanet-rbox-le90_r18_fpn_shapes-rot.py']
model = dict(
    neck=dict(num_outs=4),
    bbox_head=dict(anchor_generator=dict(octave_base_scale=4, scales_per_octave=3, strides=[8, 16, 32, 64])))
