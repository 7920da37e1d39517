# FSAF, anchor-free only, mmdet-equivalent: our FSAFRetinaHead without its anchor-based branch,
# trained with SparseFSAFAssigner(mode='mmdet') (the same positives / ignores as mmdet's
# CenterRegionAssigner + FSAFHead level selection, without P x G tensors), demo recipe on `shapes`.
_base_ = './fsaf_r18_fpn_shapes_mmdet.py'
model = dict(
    bbox_head=dict(
        _delete_=True, type='FSAFRetinaHead', with_anchor_based=False, num_classes=3, in_channels=128,
        stacked_convs=2, feat_channels=128, norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        anchor_free=dict(
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1,
                                  ratios=[1.0], strides={{_base_.strides}}),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=1.0))),
    train_cfg=dict(
        _delete_=True, af_assigner=dict(type='SparseFSAFAssigner', mode='mmdet'),
        allowed_border=-1, pos_weight=-1, debug=False))
