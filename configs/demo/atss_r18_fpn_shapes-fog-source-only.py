# The demo detector trained on labelled `shapes-fog` source images and evaluated on the
# hazy target test split: the source-only baseline of domain adaptation (shapes.md, gate G0).
_base_ = ['../_base_/models/atss_r18_fpn.py', '../_base_/datasets/shapes_fog.py',
          '../_base_/schedules/demo_iter.py', '../_base_/default_runtime.py']
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
