"""Dense heads; importing this module registers them in MODELS."""
from .fsaf_retina_head import FSAFRetinaHead

__all__ = ['FSAFRetinaHead']
from .plain_detr_head import PlainDETRHead  # noqa: E402,F401
from .sepc_heads import SEPCATSSHead, SEPCFreeAnchorRetinaHead, SEPCFSAFHead, SEPCRetinaHead  # noqa: E402,F401
