"""End to end: every config of configs/atss and configs/fsaf trains a few iterations and evaluates.

The `shapes` / `shapes-rot` configs run as they are (with the TINY overrides). The COCO and
DOTA configs keep their model, optimiser and assigners but train on the embedded data
(their own datasets are not on these machines; the backbone starts from scratch since
pretrained weights cannot be downloaded): this checks that each config's model, assigner
and head train and predict through the tools.
"""
import glob
import json
import os.path as osp

import pytest

from tests.conftest import ROOT, ROT_DEMO_CFG, DEMO_CFG, TINY, run_tool

pytestmark = pytest.mark.slow

SHAPES = [
    ('configs/atss/atss_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_r18_fpn_shapes_mmdet.py', 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_retina_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('configs/atss/rotated_atss_r18_fpn_shapes_rot.py', 'dota/mAP'),
    ('configs/atss/rotated_retinanet_r18_fpn_shapes_rot.py', 'dota/mAP'),
]
FULL_SIZE = [
    ('configs/atss/atss_r50_fpn_1x_coco.py', DEMO_CFG, 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_r50_fpn_1x_coco.py', DEMO_CFG, 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_retina_r50_fpn_1x_coco.py', DEMO_CFG, 'coco/bbox_mAP_50'),
    ('configs/atss/rotated_atss_r50_fpn_1x_dota.py', ROT_DEMO_CFG, 'dota/mAP'),
]


def _val_metrics(work_dir):
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    assert files, f'no scalars.json under {work_dir}'
    rows = [json.loads(line) for line in open(files[-1]) if line.strip()]
    return [r for r in rows if any(k.startswith(('coco/', 'dota/')) for k in r)]


@pytest.mark.parametrize('config,metric', SHAPES, ids=[osp.basename(c) for c, _ in SHAPES])
def test_shapes_config_trains_and_evaluates(config, metric, tmp_path):
    run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *TINY)
    val = _val_metrics(str(tmp_path))
    assert val and 0.0 <= val[-1][metric] <= 1.0
    assert osp.exists(tmp_path / 'iter_4.pth')


def _on_embedded_data(config, data_config, out_file):
    """``config`` with ``data_config``'s data, schedule and hooks, from-scratch backbone, 3 classes."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    data = Config.fromfile(data_config)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator', 'test_evaluator',
                'train_cfg', 'param_scheduler', 'default_hooks', 'log_processor'):
        cfg[key] = data[key]
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = 3
    cfg.work_dir = None
    cfg.dump(str(out_file))


@pytest.mark.parametrize('config,data_config,metric', FULL_SIZE, ids=[osp.basename(c) for c, _, _ in FULL_SIZE])
def test_full_size_config_trains_and_evaluates_on_embedded_data(config, data_config, metric, tmp_path):
    small = tmp_path / 'cfg.py'
    _on_embedded_data(config, data_config, small)
    # one iteration of one image, validation on two images; score_thr 0 so that the barely
    # trained model still outputs boxes for the metric to score
    opts = [o for o in TINY if not o.startswith(('train_cfg.', 'param_scheduler', 'train_dataloader.batch_size',
                                                 'val_dataloader.dataset.indices', 'default_hooks.checkpoint'))]
    opts += ['train_cfg.max_iters=1', 'train_cfg.val_interval=1', 'train_dataloader.batch_size=1',
             'val_dataloader.dataset.indices=2', 'default_hooks.checkpoint.interval=1', 'param_scheduler.0.end=1',
             'param_scheduler.1.begin=1', 'param_scheduler.1.end=2', 'model.test_cfg.score_thr=0.0']
    run_tool('tools/train.py', str(small), '--work-dir', str(tmp_path / 'run'), '--cfg-options', *opts)
    val = _val_metrics(str(tmp_path / 'run'))
    assert val and 0.0 <= val[-1][metric] <= 1.0
