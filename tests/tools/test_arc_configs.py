"""configs/arc: the DOTA recipe as the spec states it, and every shapes-rot config end to end."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import ROOT, TINY, run_tool

ARC_DIR = osp.join(ROOT, 'configs', 'arc')
DOTA = ['rotated-retinanet-rbox-le90_arc-r50_fpn_1x_dota.py', 'oriented-rcnn-le90_arc-r50_fpn_1x_dota.py']
DOTA_BASELINES = [name.replace('_arc-r50_', '_r50_') for name in DOTA]
SHAPES = ['rotated-retinanet-rbox-le90_r18_fpn_shapes-rot.py',
          'rotated-retinanet-rbox-le90_arc-r18_fpn_shapes-rot.py',
          'oriented-rcnn-le90_r18_fpn_shapes-rot.py', 'oriented-rcnn-le90_arc-r18_fpn_shapes-rot.py']


def load(name):
    return Config.fromfile(osp.join(ARC_DIR, name))


def test_config_list_is_complete():
    found = {osp.basename(p) for p in glob.glob(osp.join(ARC_DIR, '*.py'))}
    assert found == set(DOTA + DOTA_BASELINES + SHAPES)


@pytest.mark.parametrize('name', DOTA + DOTA_BASELINES)
def test_dota_recipe(name):
    cfg = load(name)
    backbone = cfg.model.backbone
    assert backbone.type == ('ARCResNet' if '_arc-' in name else 'mmdet.ResNet')
    assert backbone.depth == 50 and backbone.frozen_stages == 1 and backbone.norm_eval is True
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint='torchvision://resnet50')
    optim = cfg.optim_wrapper
    assert optim.optimizer.type == 'SGD' and optim.optimizer.lr == 0.005
    assert optim.optimizer.weight_decay == 1e-4 and optim.clip_grad.max_norm == 35
    assert optim.paramwise_cfg.custom_keys == {'backbone': dict(lr_mult=0.5)}
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 500 and not warmup.by_epoch
    assert cfg.train_cfg.max_epochs == 12 and steps.milestones == [8, 11]
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.ann_file == 'trainval/annfiles/'
    assert cfg.val_dataloader is None  # never evaluate on the training split
    assert cfg.test_evaluator.type == 'DOTAMetric'


@pytest.mark.parametrize('name', DOTA)
def test_dota_arc_detectors_build(name):
    import mmdet_ext  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmrotate.registry import MODELS
    cfg = load(name)
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.init_cfg = None  # torchvision:// is not reachable offline
    model = MODELS.build(cfg.model)
    assert len(model.backbone.arc_modules()) == 13


@pytest.mark.slow
@pytest.mark.parametrize('name', SHAPES)
def test_shapes_rot_config_trains_and_evaluates(name, tmp_path):
    run_tool('tools/train.py', osp.join(ARC_DIR, name), '--work-dir', str(tmp_path),
             '--cfg-options', *TINY)
    log = open(glob.glob(str(tmp_path / '*' / '*.log'))[0]).read()
    assert 'Iter(train) [4/4]' in log and 'dota/mAP' in log
    assert osp.exists(tmp_path / 'iter_4.pth')
    if '_arc-' in name:
        assert 'AdaptiveRotatedConv2d' in log or 'ARCResNet' in log
