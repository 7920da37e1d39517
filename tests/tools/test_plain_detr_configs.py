"""configs/plain_detr: every config loads and builds; the COCO recipe matches the spec; each
config computes a loss on a small random batch; each trains and evaluates end to end through
tools/train.py: the `shapes` configs as they are (tiny schedule), the COCO configs on the embedded
data (their model, queries and optimiser kept; images resized to 768 px so that the single map's
proposal pyramid has the 1,800 locations their queries need)."""
import glob
import os.path as osp

import pytest
import torch

from tests.conftest import DEMO_CFG, ONE_ITER, ROOT, TINY, on_embedded_data, run_tool

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/plain_detr/*.py')))
COCO = [c for c in CONFIGS if '_coco' in osp.basename(c)]
SHAPES = [c for c in CONFIGS if c not in COCO]


def _cfg(path):
    from mmengine.config import Config
    return Config.fromfile(path)


def _build(cfg):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import mmdet_ext  # noqa: F401
    register_all_modules()
    cfg.model.backbone.init_cfg = None  # no downloads here
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_config_set():
    names = {osp.basename(c) for c in CONFIGS}
    assert names == {'plain_detr_r18_shapes.py', 'plain_detr_r18_shapes_no_rpb.py', 'plain_detr_r18_shapes_reparam.py',
                     'plain_detr_r50_12e_coco.py', 'plain_detr_r50_12e_coco_no_rpb.py',
                     'plain_detr_r50_12e_coco_reparam.py'}


@pytest.mark.parametrize('config', COCO, ids=osp.basename)
def test_coco_recipe_matches_spec(config):
    cfg = _cfg(config)
    m = cfg.model
    assert m.type == 'PlainDETR' and m.num_queries_one2one == 300 and m.num_queries_one2many == 1500
    assert m.bbox_head.k_one2many == 6 and m.decoder.num_layers == 6 and m.feat_stride == 16
    layer = m.decoder.layer_cfg
    assert layer.cross_attn_cfg.embed_dims == 256 and layer.cross_attn_cfg.num_heads == 8
    assert layer.ffn_cfg.feedforward_channels == 2048 and layer.ffn_cfg.ffn_drop == 0.0
    assert layer.cross_attn_cfg.rpb_mode == (None if config.endswith('no_rpb.py') else 'linear')
    reparam = config.endswith('_reparam.py')
    assert m.get('box_reparam', False) == reparam
    # L1 weight 5, 1 with box re-parameterisation (on deltas, loss and matching cost alike)
    l1 = 1.0 if reparam else 5.0
    assert m.bbox_head.loss_cls.loss_weight == 2.0 and m.bbox_head.loss_bbox.loss_weight == l1
    assert m.bbox_head.loss_iou.loss_weight == 2.0
    costs = {c.type: c.weight for c in m.train_cfg.assigner.match_costs}
    assert costs == {'FocalLossCost': 2.0, ('DeltaL1Cost' if reparam else 'BBoxL1Cost'): l1, 'IoUCost': 2.0}
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == 2e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05 and cfg.optim_wrapper.clip_grad.max_norm == 0.1
    assert cfg.train_cfg.max_epochs == 12 and cfg.train_dataloader.batch_size == 1
    assert cfg.train_dataloader.dataset.type == 'CocoDataset' and m.bbox_head.num_classes == 80


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds_and_computes_a_loss(config):
    from mmdet.testing import demo_mm_inputs
    cfg = _cfg(config)
    model = _build(cfg)
    model.train()
    num_classes = cfg.model.bbox_head.num_classes
    # 384 x 352: the proposal pyramid has 48 * 44 + ... > 1800 locations for the COCO queries
    shapes = [[3, 384, 352], [3, 320, 352]] if config in COCO else [[3, 256, 256], [3, 224, 256]]
    packed = demo_mm_inputs(2, shapes, num_items=[2, 4], num_classes=num_classes)
    data = model.data_preprocessor(packed, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert all(torch.isfinite(v) for v in losses.values())
    assert 'o2m_loss_cls' in losses and 'enc_loss_iou' in losses
    assert model.decoder.box_reparam == model.bbox_head.box_reparam == config.endswith('_reparam.py')


def _val_map50(work_dir):
    from mmdet_ext.visualization import load_scalars
    _, val = load_scalars(str(work_dir))
    return [r['coco/bbox_mAP_50'] for r in val if 'coco/bbox_mAP_50' in r]


@pytest.mark.slow
@pytest.mark.parametrize('config', SHAPES, ids=osp.basename)
def test_shapes_config_trains_and_evaluates(config, tmp_path):
    run_tool('tools/train.py', config, '--work-dir', str(tmp_path),
             '--cfg-options', *TINY, 'model.test_cfg.max_per_img=20')
    val = _val_map50(tmp_path)
    assert val and 0.0 <= val[-1] <= 1.0
    assert osp.exists(tmp_path / 'iter_4.pth')


@pytest.mark.slow
@pytest.mark.parametrize('config', COCO, ids=osp.basename)
def test_coco_config_trains_and_evaluates_on_embedded_data(config, tmp_path):
    small = tmp_path / 'cfg.py'
    on_embedded_data(config, DEMO_CFG, small, img_scale=(768, 768))
    run_tool('tools/train.py', str(small), '--work-dir', str(tmp_path / 'run'), '--cfg-options', *ONE_ITER)
    val = _val_map50(tmp_path / 'run')
    assert val and 0.0 <= val[-1] <= 1.0
