# The horizontal demo (mmdet's ATSS, ResNet-18 + FPN from scratch on `shapes`) with one line
# changed: SparseATSSAssigner instead of mmdet's ATSSAssigner (same assignments, bounded cost).
_base_ = '../demo/atss_r18_fpn_shapes.py'
model = dict(train_cfg=dict(assigner=dict(_delete_=True, type='SparseATSSAssigner', topk=9)))
