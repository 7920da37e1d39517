# Rotated RetinaNet with mmrotate's KLD-stable box loss (configs/kld/rotated-retinanet-rbox-le90_
# r50_fpn_kld-stable_1x_dota.py: KLD on decoded boxes, weight 5.5) instead of L1 on the deltas; all
# else, SparseRBboxOverlaps2D in the MaxIoUAssigner included, is rotated_retinanet_r18_fpn_shapes_rot.py.
_base_ = ['./rotated_retinanet_r18_fpn_shapes_rot.py']
model = dict(
    bbox_head=dict(
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='GDLoss', loss_type='kld', fun='log1p', tau=1, sqrt=False,
                       loss_weight=5.5)))
