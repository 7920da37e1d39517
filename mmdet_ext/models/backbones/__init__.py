from .arc_resnet import ARCResNet

__all__ = ['ARCResNet']
