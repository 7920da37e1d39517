# `shapes-rot` (DOTA layout, 3 classes, 256x256), generated under data/shapes_rot/ on first use.
# For real DOTA: dataset_type = 'DOTADataset', data_root = 'data/split_ss_dota/' (see README:
# patch splitting), ann_file='trainval/annfiles/', data_prefix=dict(img_path='trainval/images/').
dataset_type = 'ShapesDOTADataset'
data_root = 'data/shapes_rot/'
generate = dict(kind='shapes-rot', seed=0)
backend_args = None
img_scale = (256, 256)  # the generated size: Resize is the identity, but sets scale_factor

train_pipeline = [
    dict(type='mmdet.LoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.RandomFlip', prob=0.75, direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='mmdet.PackDetInputs')
]
val_pipeline = [
    dict(type='mmdet.LoadImageFromFile', backend_args=backend_args),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
    dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
    dict(type='mmdet.PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type=dataset_type, data_root=data_root, generate=generate,
        ann_file='train/labelTxt/', data_prefix=dict(img_path='train/images/'),
        filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
# Evaluate on the held-out split (mmrotate's DOTA base evaluates on trainval: not inherited).
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, generate=generate,
        ann_file='val/labelTxt/', data_prefix=dict(img_path='val/images/'),
        test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='DOTAMetric', metric='mAP')
test_evaluator = val_evaluator
