# `shapes-fog` (COCO JSON, same 3 classes as `shapes`), generated under data/shapes_fog/ on
# first use: source = clean shapes, target = haze, low contrast, blur, noise, colour cast,
# smaller objects. As a base it trains on labelled source and evaluates on target test (the
# source-only baseline); adaptation configs reuse `source_train`, `target_train` (whose labels
# exist for diagnostics only: adaptation must not read them) and `target_test` below.
dataset_type = 'ShapesCocoDataset'
data_root = 'data/shapes_fog/'
generate = dict(kind='shapes-fog', seed=0)
backend_args = None
img_scale = (256, 256)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
source_train = dict(
    type=dataset_type, data_root=data_root, generate=generate,
    ann_file='source/annotations/instances_train.json', data_prefix=dict(img='source/train/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=1), pipeline=train_pipeline)
source_test = dict(
    type=dataset_type, data_root=data_root, generate=generate,
    ann_file='source/annotations/instances_test.json', data_prefix=dict(img='source/test/'),
    test_mode=True, pipeline=test_pipeline)
target_train = dict(
    type=dataset_type, data_root=data_root, generate=generate,
    ann_file='target/annotations/instances_train.json', data_prefix=dict(img='target/train/'),
    filter_cfg=dict(filter_empty_gt=False), pipeline=train_pipeline)
target_test = dict(
    type=dataset_type, data_root=data_root, generate=generate,
    ann_file='target/annotations/instances_test.json', data_prefix=dict(img='target/test/'),
    test_mode=True, pipeline=test_pipeline)

train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=source_train)
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=target_test)
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'target/annotations/instances_test.json',
                     metric='bbox', format_only=False, backend_args=backend_args)
test_evaluator = val_evaluator
