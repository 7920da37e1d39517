# mmdet's FSAF R-50 FPN 1x COCO (anchor-free only), with our head and assigner: FSAFRetinaHead
# without its anchor-based branch + SparseFSAFAssigner(mode='mmdet') give the same positives /
# ignores as mmdet's FSAFHead + CenterRegionAssigner, without P x G tensors. Rest is mmdet's.
_base_ = 'mmdet::fsaf/fsaf_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
model = dict(
    bbox_head=dict(
        _delete_=True, type='FSAFRetinaHead', with_anchor_based=False, num_classes=80, in_channels=256,
        stacked_convs=4, feat_channels=256,
        anchor_free=dict(
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1,
                                  ratios=[1.0], strides=[8, 16, 32, 64, 128]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=1.0))),
    train_cfg=dict(
        _delete_=True, af_assigner=dict(type='SparseFSAFAssigner', mode='mmdet'),
        allowed_border=-1, pos_weight=-1, debug=False))
