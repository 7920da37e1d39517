from .adaptive_rotated_conv import ARCRouting, AdaptiveRotatedConv2d
from .arc_rotation import combine_rotated_kernels, rotate_kernels, rotation_matrix

__all__ = ['ARCRouting', 'AdaptiveRotatedConv2d', 'combine_rotated_kernels', 'rotate_kernels',
           'rotation_matrix']
