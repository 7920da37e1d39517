# The small plain DETR with BoxRPB plus box re-parameterisation (the paper's last ablation step):
# boxes in absolute pixels, each decoder layer (and the proposal head) predicts Faster R-CNN
# deltas to its input box; L1 loss and L1 matching cost on those deltas with weight 1 (the
# paper's setting with re-parameterisation), GIoU 2 on the pixel boxes. Everything else, seeds
# included, as plain_detr_r18_shapes.py.
_base_ = './plain_detr_r18_shapes.py'
model = dict(
    box_reparam=True,
    bbox_head=dict(loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='DeltaL1Cost', weight=1.0),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])))
