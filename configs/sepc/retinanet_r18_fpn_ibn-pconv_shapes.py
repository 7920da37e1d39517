# iBN + PConv on the shapes RetinaNet baseline: the FPN is followed by the SEPC neck, the head
# keeps only its prediction convs.
_base_ = './retinanet_r18_fpn_shapes.py'
model = dict(
    neck=[dict(type='FPN', in_channels=[128, 256, 512], out_channels=128, start_level=0, add_extra_convs='on_output', num_outs=4),
          dict(type='SEPC', in_channels=128, num_levels=4, num_blocks=4, ibn=True)],
    bbox_head=dict(_delete_=True, type='SEPCRetinaHead', num_classes=3, in_channels=128, feat_channels=128,
                   stacked_convs=0, anchor_generator={{_base_.model.bbox_head.anchor_generator}},
                   bbox_coder={{_base_.model.bbox_head.bbox_coder}}, loss_cls={{_base_.model.bbox_head.loss_cls}},
                   loss_bbox={{_base_.model.bbox_head.loss_bbox}}))
