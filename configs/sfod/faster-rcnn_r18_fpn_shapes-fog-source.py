# Step 1 of source-free adaptation on the embedded data: Faster R-CNN R-18 FPN trained on the
# labelled `shapes-fog` source domain (clean shapes) with the demo budget, validated on the
# hazy target test split (the source-only baseline). Its last checkpoint is the `load_from`
# of the adaptation configs in this folder.
_base_ = ['../_base_/models/faster-rcnn_r18_fpn.py', '../_base_/datasets/shapes_fog.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
randomness = dict(seed=0)
# Area-based VOC AP50 (the adaptation papers' metric, pinned) next to COCO's metrics.
val_evaluator = [
    dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area'),
    dict(type='CocoMetric', ann_file='data/shapes_fog/target/annotations/instances_test.json',
         metric='bbox', format_only=False),
]
test_evaluator = val_evaluator
auto_scale_lr = dict(enable=False, base_batch_size=8)
