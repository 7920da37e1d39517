"""The real DOTA-v1.0 patch (../shared/data/dota_sample): loading, DOTAMetric, splitting."""
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from tests.conftest import DOTA_SAMPLE



def _dataset(pipeline=()):
    from mmrotate.datasets import DOTADataset
    init_default_scope('mmrotate')
    return DOTADataset(data_root=DOTA_SAMPLE, ann_file='labelTxt/', data_prefix=dict(img_path='images/'),
                       pipeline=list(pipeline), test_mode=True)


def test_real_patch_loads_through_the_rotated_pipeline():
    ds = _dataset([
        dict(type='mmdet.LoadImageFromFile'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True, box_type='qbox'),
        dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
        dict(type='mmdet.PackDetInputs')])
    assert len(ds) == 1
    sample = ds[0]
    # The stored PNG is a 170x170 thumbnail of the 1024x1024 patch (RGBA, read as BGR); its
    # labels keep the patch's 1024-pixel coordinates.
    assert tuple(sample['inputs'].shape) == (3, 170, 170)
    gt = sample['data_samples'].gt_instances
    assert len(gt) == 4 and (gt.labels == 0).all()  # four planes
    boxes = gt.bboxes.tensor
    assert boxes.shape == (4, 5)
    # Each rotated box is the minimum-area rectangle of its labelled polygon.
    for box, inst in zip(boxes, ds.get_data_info(0)['instances']):
        (cx, cy), (w, h), _ = cv2.minAreaRect(np.array(inst['bbox'], np.float32).reshape(4, 2))
        assert box[:2].tolist() == pytest.approx([cx, cy], abs=0.5)
        assert sorted(box[2:4].tolist()) == pytest.approx(sorted([w, h]), abs=0.5)


def test_dota_metric_scores_ground_truth_as_predictions_at_one():
    from mmrotate.evaluation import DOTAMetric
    from mmrotate.structures import qbox2rbox
    ds = _dataset()
    info = ds.get_data_info(0)
    rboxes = qbox2rbox(torch.tensor([i['bbox'] for i in info['instances']], dtype=torch.float32))
    labels = torch.tensor([i['bbox_label'] for i in info['instances']])
    metric = DOTAMetric(metric='mAP')
    metric.dataset_meta = ds.metainfo
    metric.process({}, [dict(
        img_id=info['img_id'],
        gt_instances=dict(bboxes=rboxes, labels=labels),
        ignored_instances=dict(bboxes=torch.zeros(0, 5), labels=torch.zeros(0, dtype=torch.long)),
        pred_instances=dict(bboxes=rboxes, scores=torch.ones(len(labels)), labels=labels))])
    assert metric.evaluate(1)['dota/mAP'] == pytest.approx(1.0)


def test_patch_splitting_tool_on_the_real_photograph(tmp_path):
    """Our split configs drive MMRotate's img_split.py; 1616x1565 -> 2x2 patches of 1024."""
    from tools.data.dota.split import main as split_main
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    shutil.copy(osp.join(DOTA_SAMPLE, 'dota_demo.jpg'), img_dir / 'dota_demo.png')
    save = tmp_path / 'split'
    split_main(['ss_test', '--img-dirs', f'{img_dir}/', '--save-dir', f'{save}/', '--nproc', '1'])
    patches = sorted(p.name for p in (save / 'images').iterdir())
    # windows end at the image border: x in {0, 1616-1024}, y in {0, 1565-1024}
    assert patches == ['dota_demo__1024__0___0.png', 'dota_demo__1024__0___541.png',
                       'dota_demo__1024__592___0.png', 'dota_demo__1024__592___541.png'], patches
