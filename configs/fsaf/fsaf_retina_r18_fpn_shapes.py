# The full FSAF: RetinaNet's anchor-based branch + the anchor-free branch (SparseFSAFAssigner,
# the paper's 0.2 / 0.5 regions, adjacent-level ignoring, online feature selection), trained
# jointly (anchor-free losses x 0.5) and merged before NMS. Demo recipe on `shapes`.
_base_ = ['../_base_/models/atss_r18_fpn.py', '../_base_/datasets/shapes.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
strides = [8, 16, 32, 64]
model = dict(
    type='RetinaNet',
    bbox_head=dict(
        _delete_=True,
        type='FSAFRetinaHead', num_classes=3, in_channels=128, stacked_convs=2, feat_channels=128,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        # RetinaNet's anchors (3 scales x 3 ratios), scaled to the small objects of `shapes`
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=2, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=strides),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                        target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0),
        anchor_free=dict(
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1,
                                  ratios=[1.0], strides=strides),
            bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=0.5),
            loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=0.5))),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0,
                      ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'),
        af_assigner=dict(type='SparseFSAFAssigner', mode='paper'),
        allowed_border=-1, pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
