# The full FSAF on COCO: mmdet's RetinaNet R-50 FPN 1x config with FSAFRetinaHead, i.e. the
# anchor-based branch plus the anchor-free branch (SparseFSAFAssigner, paper mode: 0.2 / 0.5
# regions, adjacent-level ignoring, online feature selection), anchor-free losses x 0.5,
# detections of both merged before NMS. Gradient clipping as mmdet's FSAF config.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
model = dict(
    bbox_head=dict(
        type='FSAFRetinaHead',
        anchor_free=dict(
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1,
                                  ratios=[1.0], strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=0.5),
            loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=0.5))),
    train_cfg=dict(af_assigner=dict(type='SparseFSAFAssigner', mode='paper')))
optim_wrapper = dict(clip_grad=dict(max_norm=10, norm_type=2))
