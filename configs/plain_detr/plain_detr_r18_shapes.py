# Plain DETR with BoxRPB on the embedded `shapes` data: ResNet-18 from scratch, its last stage
# upsampled to stride 16 (no encoder), d = 128, 3 decoder layers with global cross-attention +
# BoxRPB ('linear'), 50 one-to-one + 100 one-to-many queries (k = 6), two-stage proposals from a
# 4-level pyramid built from the single map. Demo schedule (700 iterations, batch 8) and the demo's
# learning rate, AdamW 1e-3 (wd 0.05, grad clip 0.1 as in the paper): from scratch, the paper's
# 2e-4 learns almost nothing in 700 iterations (bbox mAP@0.5 0.031 with BoxRPB, 0.036 without;
# 1e-3: 0.217 and 0.145; benchmarks/plain_detr_accuracy.py, configs/plain_detr/README.md).
_base_ = ['../_base_/datasets/shapes.py', '../_base_/schedules/demo_iter.py',
          '../_base_/default_runtime.py']
d = 128
num_heads = 8
model = dict(
    type='PlainDETR',
    num_queries_one2one=50,
    num_queries_one2many=100,
    feat_stride=16,
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=18, num_stages=4, out_indices=(3, ), frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch', init_cfg=None),
    neck=dict(type='PlainDETRUpsampleNeck', in_channels=512, out_channels=d),
    decoder=dict(
        num_layers=3,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=d, num_heads=num_heads, attn_drop=0.0, proj_drop=0.0),
            cross_attn_cfg=dict(embed_dims=d, num_heads=num_heads, rpb_mode='linear', rpb_hidden=128),
            ffn_cfg=dict(embed_dims=d, feedforward_channels=4 * d, ffn_drop=0.0))),
    positional_encoding=dict(num_feats=d // 2, normalize=True, offset=-0.5),
    bbox_head=dict(
        type='PlainDETRHead', num_classes=3, embed_dims=d, k_one2many=6, lambda_one2many=1.0,
        sync_cls_avg_factor=True,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=50))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=0.1, norm_type=2))
