# iBN + PConv: ATSS R-50-FPN 1x COCO with the SEPC recipe.
_base_ = './_base_/atss_r50_fpn_sepc_1x_coco.py'
model = dict(neck=[{{_base_.fpn}}, dict(type='SEPC', in_channels=256, num_levels=5, num_blocks=4, ibn=True)])
