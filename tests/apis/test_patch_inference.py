"""Patch-split inference on the real aerial photographs merges patches into image coordinates."""
import os.path as osp

import mmcv
import pytest
import torch
from mmengine.config import Config

from mmdet_ext.apis import inference_by_patches
from tests.conftest import DOTA_SAMPLE, ROT_DEMO_CFG



@pytest.fixture(scope='module')
def rotated_model():
    from mmdet.apis import init_detector
    cfg = Config.fromfile(ROT_DEMO_CFG)
    # An untrained model with a low score threshold: every patch yields boxes to merge.
    cfg.model.test_cfg.score_thr = 0.0
    cfg.model.test_cfg.max_per_img = 50
    torch.manual_seed(0)
    return init_detector(cfg, checkpoint=None, device='cpu')


@pytest.mark.parametrize('name,patches', [('demo.jpg', 1), ('dota_demo.jpg', 4)])
def test_patch_inference_on_real_photographs(rotated_model, name, patches):
    img = mmcv.imread(osp.join(DOTA_SAMPLE, name))
    h, w = img.shape[:2]
    result = inference_by_patches(rotated_model, img, patch_size=1024, gap=200)
    boxes = result.pred_instances.bboxes
    boxes = getattr(boxes, 'tensor', boxes)
    assert boxes.shape[1] == 5 and len(boxes) > 0
    # Merged boxes live in full-image coordinates: centres spread beyond the first patch.
    cx, cy = boxes[:, 0], boxes[:, 1]
    assert (cx >= -1).all() and (cx <= w + 1).all() and (cy >= -1).all() and (cy <= h + 1).all()
    if patches > 1:
        assert (cx > 1024).any() or (cy > 1024).any()


def test_gap_must_be_smaller_than_patch(rotated_model):
    with pytest.raises(ValueError, match='gap'):
        inference_by_patches(rotated_model, osp.join(DOTA_SAMPLE, 'demo.jpg'), patch_size=512, gap=512)
