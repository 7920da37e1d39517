"""Inference on large aerial images by sliding patches, merged by rotated NMS.

MMRotate's ``inference_detector_by_patches`` does the sliding and merging; its default test
pipeline only strips un-prefixed ``LoadAnnotations`` steps, so mmrotate-style configs
(``mmdet.LoadAnnotations``, ``ConvertBoxType``) break it. We hand it an explicit pipeline.
"""
from typing import Union

import numpy as np
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmengine.registry import init_default_scope
from torch import nn


def inference_by_patches(model: nn.Module, img: Union[str, np.ndarray], patch_size: int = 1024,
                         gap: int = 200, nms_iou_thr: float = 0.1,
                         batch_size: int = 1) -> DetDataSample:
    """Detect on ``img`` patch by patch (DOTA's 1024 / gap 200 by default).

    Args:
        model: a detector from ``mmdet.apis.init_detector`` (rotated or horizontal).
        img: image path or BGR array (H, W, 3).
        patch_size: patch side in pixels.
        gap: overlap between neighbouring patches (step = patch_size - gap).
        nms_iou_thr: IoU threshold of the per-class rotated NMS that merges the patches.
        batch_size: patches per forward pass.

    Returns:
        A ``DetDataSample`` whose ``pred_instances`` are in full-image coordinates.
    """
    from mmrotate.apis import inference_detector_by_patches
    if gap >= patch_size:
        raise ValueError(f'gap ({gap}) must be smaller than patch_size ({patch_size})')
    init_default_scope('mmrotate')
    pipeline = Compose([
        dict(type='mmrotate.LoadPatchFromNDArray'),  # pads border patches to patch_size
        dict(type='mmdet.Resize', scale=(patch_size, patch_size), keep_ratio=True),  # sets scale_factor
        dict(type='mmdet.PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'patch')),
    ])
    return inference_detector_by_patches(
        model, img, sizes=[patch_size], steps=[patch_size - gap], ratios=[1.0],
        nms_cfg=dict(type='nms_rotated', iou_threshold=nms_iou_thr), test_pipeline=pipeline,
        bs=batch_size)
