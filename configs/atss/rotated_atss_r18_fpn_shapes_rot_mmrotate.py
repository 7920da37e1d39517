# Reference for rotated_atss_r18_fpn_shapes_rot.py: the same detector, data, recipe and seed with
# mmrotate's own assigner (RotatedATSSAssigner + RBboxOverlaps2D, dense priors x objects) instead
# of SparseATSSAssigner + SparseRBboxOverlaps2D.
_base_ = './rotated_atss_r18_fpn_shapes_rot.py'
model = dict(
    train_cfg=dict(
        assigner=dict(_delete_=True, type='RotatedATSSAssigner', topk=9,
                      iou_calculator=dict(type='RBboxOverlaps2D'))))
