"""Dense heads; importing this module registers them in MODELS."""
from .fsaf_retina_head import FSAFRetinaHead

__all__ = ['FSAFRetinaHead']
