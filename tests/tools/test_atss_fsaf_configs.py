"""End to end: every config of configs/atss and configs/fsaf trains a few iterations and evaluates.

The `shapes` / `shapes-rot` configs run as they are (with the TINY overrides). The COCO and
DOTA configs keep their model, optimiser and assigners but train on the embedded data
(their own datasets are not on these machines; the backbone starts from scratch since
pretrained weights cannot be downloaded): this checks that each config's model, assigner
and head train and predict through the tools.
"""
import os.path as osp

import pytest

from tests.conftest import DEMO_CFG, ONE_ITER, ROT_DEMO_CFG, TINY, on_embedded_data, run_tool

pytestmark = pytest.mark.slow

SHAPES = [
    ('configs/atss/atss_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_r18_fpn_shapes_mmdet.py', 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_retina_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('configs/atss/rotated_atss_r18_fpn_shapes_rot.py', 'dota/mAP'),
    ('configs/atss/rotated_atss_r18_fpn_shapes_rot_mmrotate.py', 'dota/mAP'),
    ('configs/atss/rotated_retinanet_r18_fpn_shapes_rot.py', 'dota/mAP'),
    ('configs/atss/rotated_retinanet_r18_fpn_kld_shapes_rot.py', 'dota/mAP'),
    ('configs/atss/rotated_retinanet_r18_fpn_anchor2_shapes_rot.py', 'dota/mAP'),
]
FULL_SIZE = [
    ('configs/atss/atss_r50_fpn_1x_coco.py', DEMO_CFG, 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_r50_fpn_1x_coco.py', DEMO_CFG, 'coco/bbox_mAP_50'),
    ('configs/fsaf/fsaf_retina_r50_fpn_1x_coco.py', DEMO_CFG, 'coco/bbox_mAP_50'),
    ('configs/atss/rotated_atss_r50_fpn_1x_dota.py', ROT_DEMO_CFG, 'dota/mAP'),
]


def _val_metrics(work_dir):
    from mmdet_ext.visualization import load_scalars
    _, val = load_scalars(str(work_dir))
    assert val, f'no validation record under {work_dir}'
    return val


@pytest.mark.parametrize('config,metric', SHAPES, ids=[osp.basename(c) for c, _ in SHAPES])
def test_shapes_config_trains_and_evaluates(config, metric, tmp_path):
    run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *TINY)
    val = _val_metrics(str(tmp_path))
    assert val and 0.0 <= val[-1][metric] <= 1.0
    assert osp.exists(tmp_path / 'iter_4.pth')


@pytest.mark.parametrize('config,data_config,metric', FULL_SIZE, ids=[osp.basename(c) for c, _, _ in FULL_SIZE])
def test_full_size_config_trains_and_evaluates_on_embedded_data(config, data_config, metric, tmp_path):
    small = tmp_path / 'cfg.py'
    on_embedded_data(config, data_config, small)
    opts = ONE_ITER + ['model.test_cfg.score_thr=0.0']
    run_tool('tools/train.py', str(small), '--work-dir', str(tmp_path / 'run'), '--cfg-options', *opts)
    val = _val_metrics(str(tmp_path / 'run'))
    assert val and 0.0 <= val[-1][metric] <= 1.0
