# Ablation for the ATSS SEPC gap on `shapes`: iBN + PConv's features (SEPC plain mode: the last
# PConv block's output per level, no cconv / lconv) fed to the 4-conv GN towers of the baseline
# (atss_r18_fpn_4conv_shapes.py). Separates "PConv features" from "towers shared by the branches".
_base_ = './atss_r18_fpn_4conv_shapes.py'
model = dict(
    neck=[dict(type='FPN', in_channels=[128, 256, 512], out_channels=128, start_level=0, add_extra_convs='on_output', num_outs=4),
          dict(type='SEPC', in_channels=128, num_levels=4, num_blocks=4, ibn=True, plain=True)])
