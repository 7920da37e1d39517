from .adaptive_rotated_conv import ARCRouting, AdaptiveRotatedConv2d
from .arc_rotation import combine_rotated_kernels, rotate_kernels, rotation_matrix

__all__ = ['ARCRouting', 'AdaptiveRotatedConv2d', 'combine_rotated_kernels', 'rotate_kernels',
           'rotation_matrix']
from .integrated_bn import IntegratedBN  # noqa: E402
from .pyramid_conv import PConvBlock, SharedLevelConv  # noqa: E402
from .sepc_deform_conv import deform_conv2d_torch  # noqa: E402
from .box_rpb import BoxRPBCrossAttention, box_rpb_attention, box_rpb_bias  # noqa: E402,F401
from .plain_detr_layers import PlainDETRDecoder, PlainDETRUpsampleNeck  # noqa: E402,F401
