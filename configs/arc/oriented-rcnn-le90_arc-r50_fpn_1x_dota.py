# Oriented R-CNN with ARC-ResNet-50 ("RxFFF_n4": stage 1 plain, every block of stages 2-4 an
# ARC conv2, n = 4), DOTA-v1.0 single-scale, ARC's recipe (frozen BN, frozen stage 1, backbone
# lr x 0.5, SGD 0.005, clip 35, 500-iteration warm-up, 12 epochs). Paper: 77.35 mAP
# (released checkpoint 77.42) with ImageNet-pretrained ARC-ResNet-50, which is not reachable
# offline: the torchvision ResNet-50 checkpoint is loaded instead, each conv2 copied into its
# 4 kernels (see configs/arc/README.md).
_base_ = './oriented-rcnn-le90_r50_fpn_1x_dota.py'
model = dict(
    backbone=dict(
        type='ARCResNet', arc_blocks=(None, 'all', 'all', 'all'),
        arc_cfg=dict(num_kernels=4, theta_max=40.0, dropout=0.2)))
