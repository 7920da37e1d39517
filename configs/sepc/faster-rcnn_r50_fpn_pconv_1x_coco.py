# Faster R-CNN R-50-FPN 1x COCO with PConv as a plain neck (SEPC plain=True: one feature per
# level, the same 5 levels and strides 4..64 as the FPN, so RPN anchors [4..64] and the RoI
# extractor's strides [4, 8, 16, 32] stay consistent). mmdet's Faster R-CNN recipe otherwise.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
model = dict(neck=[
    dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
    dict(type='SEPC', in_channels=256, num_levels=5, num_blocks=4, plain=True)])
