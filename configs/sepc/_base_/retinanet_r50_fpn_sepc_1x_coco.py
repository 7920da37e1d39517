# mmdet's RetinaNet R-50-FPN 1x COCO with the head tower removed (variants add the SEPC neck).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
fpn = dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, start_level=1,
           add_extra_convs='on_input', num_outs=5)
model = dict(bbox_head=dict(type='SEPCRetinaHead', stacked_convs=0))
# The SEPC paper's recipe: SGD lr 0.01, momentum 0.9, wd 1e-4, gradient clip 35, 500-iteration
# linear warm-up, 12 epochs (steps at 8 and 11), 4 images per GPU (iBN statistics need >= 4).
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
                     clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)]
train_cfg = dict(max_epochs=12)
train_dataloader = dict(batch_size=4)
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
