"""configs/nsa: the recipes (labelled source + unlabelled target), the Cityscapes detectors, and a
few NSA iterations end to end on shapes-fog with both sources."""
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import ROOT, TINY, run_tool

NSA_DIR = osp.join(ROOT, 'configs', 'nsa')
SHAPES = ['uda-baseline_faster-rcnn_r18_fpn_shapes-fog.py', 'nsa_faster-rcnn_r18_fpn_shapes-fog.py']
CITYSCAPES = ['uda-baseline_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py',
              'nsa_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']
# Batch 2 = 1 source + 1 target image; EMA and the student pull every iteration so they fire.
NSA_TINY = [o for o in TINY if not o.startswith('param_scheduler')] + [
    'train_dataloader.sampler.batch_size=2', 'custom_hooks.0.interval=1']


def load(name):
    return Config.fromfile(osp.join(NSA_DIR, name))


def test_config_list_is_complete():
    assert {osp.basename(p) for p in glob.glob(osp.join(NSA_DIR, '*.py'))} == {*SHAPES, *CITYSCAPES}


@pytest.mark.parametrize('name', SHAPES + CITYSCAPES)
def test_two_source_recipe(name):
    cfg = load(name)
    nsa = name.startswith('nsa')
    assert cfg.model.type == 'DomainAdaptiveMeanTeacher'
    assert cfg.model.semi_train_cfg.pseudo_thr == 0.65
    loader = cfg.train_dataloader
    assert loader.sampler.type == 'MultiSourceSampler' and loader.sampler.source_ratio == [1, 1]
    assert loader.sampler.batch_size == loader.batch_size
    source, target = loader.dataset.datasets
    assert loader.dataset.type == 'ConcatDataset'
    source_types = [t['type'] for t in source.pipeline]
    target_types = [t['type'] for t in target.pipeline]
    assert 'LoadAnnotations' in source_types and 'LoadAnnotations' not in target_types
    assert 'foggy' in target.data_prefix.img or target.ann_file.startswith('target/')
    branches = ['sup', 'unsup_teacher', 'unsup_student'] + (['unsup_light'] if nsa else [])
    assert source.pipeline[-1].branch_field == branches and target.pipeline[-1].branch_field == branches
    student = [t['type'] for t in target.pipeline[-1].unsup_student]
    assert ('RandAugment' in student) == nsa and 'StrongPhotometricAugment' in student
    assert [a['type'] for a in cfg.model.adaptations] == (['NSAConsistencyLoss'] if nsa else [])
    ema, stage = cfg.custom_hooks
    assert ema.type == 'TeacherEMAHook' and ema.by_epoch is False and stage.type == 'NSAStageHook'
    assert (stage.pull_interval > 0) == nsa
    if 'cityscapes' in name:  # the paper's cadence
        assert ema.interval == 100 and tuple(stage.stage_keep_rates) == (0.99, 0.92)
        assert stage.pull_interval == (200 if nsa else 0)
    assert cfg.val_evaluator[0] == dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area')


@pytest.mark.parametrize('name', CITYSCAPES)
def test_cityscapes_detector_builds_and_nsa_runs_on_c4(name):
    """R-50-C4 (one feature level, shared res5 head): one loss forward on a small random batch."""
    import torch
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from tests.models.detectors.test_nsa_domain_adaptive_mean_teacher import batch
    init_default_scope('mmdet')
    cfg = load(name)
    cfg.model.detector.backbone.init_cfg = None
    cfg.model.semi_train_cfg.pseudo_thr = 0.0
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.student.roi_head.bbox_head.num_classes == 8
    if not name.startswith('nsa'):
        return
    model.train()
    inputs, data = batch()
    losses = model.loss(inputs, data)
    assert {'sup_loss_cls', 'loss_cls', 'loss_nsa_pix', 'loss_nsa_ins', 'loss_nsa_out'} <= set(losses)


@pytest.fixture(scope='module')
def plain_source_checkpoint(tmp_path_factory):
    import torch
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import save_checkpoint
    init_default_scope('mmdet')
    torch.manual_seed(0)
    detector = MODELS.build(load(SHAPES[0]).model.detector)
    path = str(tmp_path_factory.mktemp('nsa_source') / 'source.pth')
    save_checkpoint({'state_dict': detector.state_dict(), 'meta': {}}, path)
    return path


@pytest.mark.slow
def test_nsa_trains_on_both_sources_and_evaluates_the_teacher(tmp_path, plain_source_checkpoint):
    run_tool('tools/train.py', osp.join(NSA_DIR, SHAPES[1]), '--work-dir', str(tmp_path), '--cfg-options',
             *NSA_TINY, f'load_from={plain_source_checkpoint}', 'model.semi_train_cfg.pseudo_thr=0.0',
             'custom_hooks.1.pull_interval=1')
    log = open(sorted(glob.glob(str(tmp_path / '*' / '*.log')))[-1]).read()
    assert 'Iter(train) [4/4]' in log and 'pascal_voc/AP50' in log
    for key in ('sup_loss_cls', 'loss_cls', 'loss_nsa_pix', 'nsa_internal_mse', 'nsa_student_pulls'):
        assert key in log, key
    assert 'every 1 iterations' in log and 'stage 2 from iteration 2' in log
    scalars = [json.loads(line) for line in open(glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))[0])]
    assert sum('nsa_internal_mse' in s for s in scalars) == 4  # what the benchmark's G3 reads
    assert osp.exists(tmp_path / 'iter_4.pth')
