# Ablation for the ATSS SEPC gap on `shapes`: iBN + PConv (atss_r18_fpn_ibn-pconv_shapes.py) with
# GroupNorm (32 groups, per sample and per level, as the baseline's GN towers) wherever iBN would be.
# Separates iBN's batch statistics pooled over levels from PConv's cross-level mixing.
_base_ = './atss_r18_fpn_ibn-pconv_shapes.py'
model = dict(neck=[_base_.model.neck[0], dict(_base_.model.neck[1], ibn=False, gn_groups=32)])
