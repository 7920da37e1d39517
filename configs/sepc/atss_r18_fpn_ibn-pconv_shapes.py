# iBN + PConv on the demo ATSS (configs/demo/atss_r18_fpn_shapes.py): FPN then the SEPC neck, the
# head keeps only its prediction convs.
_base_ = '../demo/atss_r18_fpn_shapes.py'
model = dict(
    neck=[dict(type='FPN', in_channels=[128, 256, 512], out_channels=128, start_level=0, add_extra_convs='on_output', num_outs=4),
          dict(type='SEPC', in_channels=128, num_levels=4, num_blocks=4, ibn=True)],
    bbox_head=dict(type='SEPCATSSHead', stacked_convs=0, norm_cfg=None))
