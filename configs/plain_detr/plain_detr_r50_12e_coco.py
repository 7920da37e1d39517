# Plain DETR with BoxRPB, COCO, the spec's recipe with a ResNet-50 backbone (the paper uses
# Swin-v2; any mmdet backbone works: set `backbone` and the neck's `in_channels`).
# Data pipeline (DETR multi-scale resize + crop), 12-epoch schedule (LR step at epoch 11) and
# evaluation are mmdet's DINO 12e config; model and optimiser follow the paper:
# last stage (stride 32) upsampled to stride 16, d = 256, no encoder, 6 decoder layers with
# global cross-attention + BoxRPB ('linear', hidden 512), 300 one-to-one + 1500 one-to-many
# queries (GT repeated k = 6 times), two-stage proposals from a 4-level pyramid of the single map,
# focal 2 / L1 5 / GIoU 2, AdamW 2e-4 wd 0.05, grad clip 0.1, 1 image per GPU.
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
d = 256
num_heads = 8
model = dict(
    _delete_=True,
    type='PlainDETR',
    num_queries_one2one=300,
    num_queries_one2many=1500,
    feat_stride=16,
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(3, ), frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(type='PlainDETRUpsampleNeck', in_channels=2048, out_channels=d),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=d, num_heads=num_heads, attn_drop=0.0, proj_drop=0.0),
            cross_attn_cfg=dict(embed_dims=d, num_heads=num_heads, rpb_mode='linear', rpb_hidden=512),
            ffn_cfg=dict(embed_dims=d, feedforward_channels=2048, ffn_drop=0.0))),
    positional_encoding=dict(num_feats=d // 2, normalize=True, offset=-0.5),
    bbox_head=dict(
        type='PlainDETRHead', num_classes=80, embed_dims=d, k_one2many=6, lambda_one2many=1.0,
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
    test_cfg=dict(max_per_img=100))
train_dataloader = dict(batch_size=1)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
# 8 GPUs x 1 image
auto_scale_lr = dict(base_batch_size=8)
