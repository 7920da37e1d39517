# Baseline: rotated RetinaNet, plain ResNet-50 (torchvision ImageNet weights), DOTA-v1.0 ss,
# trained with the same recipe as the ARC config next to it.
_base_ = ['./_base_/rotated_retinanet_r50_fpn_le90.py', './_base_/dota_ss_1x_arc_recipe.py']
