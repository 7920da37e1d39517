# Rotated RetinaNet with a small ARC-ResNet-18 on `shapes-rot`: the baseline next to it with the
# backbone's BasicBlock conv2 (the second 3x3 conv) of every block of stages 2-4 an ARC conv
# (n = 4, |theta| < 40 degrees), stage 1 plain: 6 ARC convs. Same data, budget and seed.
_base_ = './rotated-retinanet-rbox-le90_r18_fpn_shapes-rot.py'
model = dict(
    backbone=dict(
        type='ARCResNet', arc_blocks=(None, 'all', 'all', 'all'), arc_conv='conv2',
        arc_cfg=dict(num_kernels=4, theta_max=40.0, dropout=0.2)))
