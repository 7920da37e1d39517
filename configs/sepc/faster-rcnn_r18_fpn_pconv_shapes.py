# Faster R-CNN + PConv (plain neck) on `shapes` with the demo recipe: the baseline
# (faster-rcnn_r18_fpn_shapes.py) with 4 PConv blocks (plain=True) after its FPN (P2-P6), RPN + RoI
# head consuming one feature per level.
_base_ = './faster-rcnn_r18_fpn_shapes.py'
model = dict(neck=[dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=128, num_outs=5),
                   dict(type='SEPC', in_channels=128, num_levels=5, num_blocks=4, plain=True)])
