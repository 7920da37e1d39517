from .patch_inference import inference_by_patches

__all__ = ['inference_by_patches']
