# The COCO recipe with BoxRPB plus box re-parameterisation (the paper's 50.9 AP row with
# Swin-v2-S and MIM pre-training; here ResNet-50): boxes in absolute pixels, Faster R-CNN deltas
# per decoder layer (clamp |d_wh| <= log(1000/16)), L1 loss and L1 matching cost on the deltas
# with weight 1, GIoU 2 on the pixel boxes; everything else as plain_detr_r50_12e_coco.py.
_base_ = './plain_detr_r50_12e_coco.py'
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
