# The horizontal demo: mmdet's ATSS, ResNet-18 + FPN trained from scratch on `shapes`.
_base_ = ['../_base_/models/atss_r18_fpn.py', '../_base_/datasets/shapes.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
