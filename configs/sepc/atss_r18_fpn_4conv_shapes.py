# Baseline for the ATSS SEPC variants on `shapes` with their conv count: the demo ATSS
# (configs/demo/atss_r18_fpn_shapes.py, 2-conv GN towers) with 4-conv GN towers, as the paper's
# ATSS baseline has (the variants replace the towers with 4 PConvs + cconv / lconv).
_base_ = '../demo/atss_r18_fpn_shapes.py'
model = dict(bbox_head=dict(stacked_convs=4))
