# Data preprocessor, ResNet-18 (C3-C5, from scratch) and FPN (128 channels, P3-P6) shared by the
# one-stage rotated detectors on `shapes-rot` (the rotated demo and its alternatives); each config
# sets the detector type and its head, and may change the FPN's extra levels.
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32, boxtype2tensor=False),
    backbone=dict(
        type='mmdet.ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=-1,
        norm_cfg=norm_cfg, norm_eval=False, style='pytorch', init_cfg=None),
    neck=dict(
        type='mmdet.FPN', in_channels=[128, 256, 512], out_channels=128, start_level=0,
        add_extra_convs='on_output', num_outs=4))
