# The shapes RetinaNet baseline without GroupNorm in its towers: the paper's baseline form (mmdet's
# RetinaNet head has no normalisation), so that plain PConv (no normalisation either) is compared
# with a baseline that differs from it only in the neck.
_base_ = './retinanet_r18_fpn_shapes.py'
model = dict(bbox_head=dict(norm_cfg=None))
