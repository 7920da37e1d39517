"""configs/sfod: the recipes, the refusals, and a few adaptation iterations end to end on shapes-fog."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from tests.conftest import ROOT, TINY, run_tool

SFOD_DIR = osp.join(ROOT, 'configs', 'sfod')
SOURCE = 'faster-rcnn_r18_fpn_shapes-fog-source.py'
ADAPT = ['mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py', 'lpld_faster-rcnn_r18_fpn_shapes-fog.py']
CITYSCAPES = ['faster-rcnn_r50-caffe-c4_cityscapes-source.py',
              'mean-teacher_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py',
              'lpld_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']
WSCOL = ['wscol_faster-rcnn_r18_fpn_shapes-fog.py', 'wscol-lpld_faster-rcnn_r18_fpn_shapes-fog.py']
WSCOL_CITYSCAPES = ['wscol_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py',
                    'wscol-lpld_faster-rcnn_r50-caffe-c4_cityscapes-to-foggy.py']
# Adaptation overrides of TINY: the EMA every iteration so that it fires in 4 iterations.
ADAPT_TINY = [o for o in TINY if not o.startswith('param_scheduler')] + [
    'custom_hooks.0.by_epoch=False', 'custom_hooks.0.interval=1']


def load(name):
    return Config.fromfile(osp.join(SFOD_DIR, name))


def test_config_list_is_complete():
    found = {osp.basename(p) for p in glob.glob(osp.join(SFOD_DIR, '*.py'))}
    assert found == {SOURCE, *ADAPT, *CITYSCAPES, *WSCOL, *WSCOL_CITYSCAPES}


@pytest.mark.parametrize('name', ADAPT)
def test_shapes_fog_adaptation_recipe(name):
    cfg = load(name)
    assert cfg.model.type == 'SourceFreeMeanTeacher'
    assert cfg.model.semi_train_cfg.pseudo_thr == 0.7
    assert cfg.model.detector.test_cfg.rpn.nms_pre == 1000 and cfg.model.detector.test_cfg.rpn.max_per_img == 300
    assert cfg.load_from.endswith('faster-rcnn_r18_fpn_shapes-fog-source/iter_700.pth')
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'LoadAnnotations' not in types  # source-free: target labels never read
    branch = cfg.train_dataloader.dataset.pipeline[-1]
    assert branch.type == 'MultiBranch' and branch.unsup_student[0].type == 'StrongPhotometricAugment'
    assert cfg.train_dataloader.dataset.ann_file.startswith('target/')
    assert cfg.custom_hooks[0] == dict(type='TeacherEMAHook', keep_rate=0.75, by_epoch=True)
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4)
    assert cfg.val_evaluator[0] == dict(type='VOCMetric', metric='mAP', iou_thrs=[0.5], eval_mode='area')
    assert [a['type'] for a in cfg.model.adaptations] == (['LPLDLoss'] if name.startswith('lpld') else [])


@pytest.mark.parametrize('name', WSCOL + WSCOL_CITYSCAPES)
def test_wscol_recipe(name):
    cfg = load(name)
    assert cfg.model.type == 'SourceFreeMeanTeacher'
    if 'cityscapes' in name:  # WSCoL's recipe: HPL threshold 0.9, EMA k = 0.9 per epoch
        assert cfg.model.semi_train_cfg.pseudo_thr == 0.9
        assert cfg.custom_hooks == [dict(type='TeacherEMAHook', keep_rate=0.9, by_epoch=True)]
    else:  # shapes: the mean teacher's recipe, so that the loss is the only difference
        mean_teacher = load('mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py')
        assert cfg.model.semi_train_cfg == mean_teacher.model.semi_train_cfg
        assert cfg.custom_hooks == mean_teacher.custom_hooks
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4)
    assert 'LoadAnnotations' not in [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    wscol = cfg.model.adaptations[0]
    assert wscol.type == 'WSCoLLoss'
    expected = dict(embed_dims=512, memory_length=10, prototype_keep=0.6, num_proposals=300, cluster_iters=4,
                    hpl_iou_thr=0.5, temperature=0.07, objectness_thr=0.5, variance_thr=20., min_foreground=3,
                    contrast_weight=0.5, distill_weight=1.0)
    assert {k: wscol[k] for k in expected} == expected
    detector = cfg.model.detector
    assert wscol.num_classes == detector.roi_head.bbox_head.num_classes
    if 'cityscapes' in name:  # C4: res5 output 2048 x 7 x 7, classifier input 2048
        assert (wscol.in_channels, wscol.shared_channels) == (2048, 2048)
    else:
        assert wscol.in_channels == detector.roi_head.bbox_roi_extractor.out_channels
        assert wscol.shared_channels == detector.roi_head.bbox_head.fc_out_channels
    types = [a['type'] for a in cfg.model.adaptations]
    assert types == (['WSCoLLoss', 'LPLDLoss'] if 'wscol-lpld' in name else ['WSCoLLoss'])


@pytest.mark.parametrize('name', CITYSCAPES + WSCOL_CITYSCAPES)
def test_cityscapes_recipe(name):
    cfg = load(name)
    detector = cfg.model.detector if 'detector' in cfg.model else cfg.model
    assert detector.backbone.depth == 50 and detector.backbone.norm_cfg.requires_grad is False
    assert detector.roi_head.bbox_head.num_classes == 8
    if name.startswith('faster'):
        return
    assert cfg.model.type == 'SourceFreeMeanTeacher'
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=1e-4)
    assert 'foggy' in cfg.train_dataloader.dataset.data_prefix.img
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'LoadAnnotations' not in types


@pytest.mark.parametrize('name', CITYSCAPES + WSCOL_CITYSCAPES)
def test_cityscapes_detectors_build(name):
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    cfg = load(name)
    init_default_scope('mmdet')
    cfg.model.get('detector', cfg.model).backbone.init_cfg = None  # no download here
    MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def plain_source_checkpoint(tmp_path_factory):
    """An un-prefixed detector checkpoint, as a source training writes it (untrained: wiring only)."""
    import torch
    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import save_checkpoint
    init_default_scope('mmdet')
    torch.manual_seed(0)
    detector = MODELS.build(load(ADAPT[0]).model.detector)
    path = str(tmp_path_factory.mktemp('sfod_source') / 'source.pth')
    save_checkpoint({'state_dict': detector.state_dict(), 'meta': {}}, path)
    return path


def test_adaptation_without_source_checkpoint_is_refused(tmp_path):
    proc = run_tool('tools/train.py', osp.join(SFOD_DIR, ADAPT[0]), '--work-dir', str(tmp_path),
                    '--cfg-options', *ADAPT_TINY, 'load_from=None', check=False)
    assert proc.returncode != 0
    assert 'needs a source-trained checkpoint' in proc.stderr + proc.stdout


def test_target_labels_in_training_are_refused(tmp_path, plain_source_checkpoint):
    cfg = load(ADAPT[0])
    cfg.train_dataloader.dataset.pipeline.insert(1, dict(type='LoadAnnotations', with_bbox=True))
    leaking = str(tmp_path / 'leaking.py')
    cfg.dump(leaking)
    proc = run_tool('tools/train.py', leaking, '--work-dir', str(tmp_path),
                    '--cfg-options', *ADAPT_TINY, f'load_from={plain_source_checkpoint}', check=False)
    assert proc.returncode != 0
    assert 'must not load target annotations' in proc.stderr + proc.stdout


@pytest.mark.slow
def test_lpld_adaptation_trains_evaluates_the_teacher_and_resumes(tmp_path, plain_source_checkpoint):
    cfg = osp.join(SFOD_DIR, ADAPT[1])
    common = [*ADAPT_TINY, f'load_from={plain_source_checkpoint}', 'model.semi_train_cfg.pseudo_thr=0.0']
    run_tool('tools/train.py', cfg, '--work-dir', str(tmp_path), '--cfg-options', *common)
    log = open(sorted(glob.glob(str(tmp_path / '*' / '*.log')))[-1]).read()
    assert 'Iter(train) [4/4]' in log and 'loss_lpld' in log and 'pascal_voc/AP50' in log
    assert 'every 1 iterations' in log  # the EMA cadence as configured
    assert osp.exists(tmp_path / 'iter_4.pth')
    # Killed after 4 of 6 planned iterations: --resume continues at 5 (teacher in the checkpoint).
    run_tool('tools/train.py', cfg, '--work-dir', str(tmp_path), '--resume',
             '--cfg-options', *common, 'train_cfg.max_iters=6', 'train_cfg.val_interval=6')
    resumed = open(sorted(glob.glob(str(tmp_path / '*' / '*.log')))[-1]).read()
    assert 'resumed epoch' in resumed.lower() and 'Iter(train) [6/6]' in resumed
    assert 'Iter(train) [1/6]' not in resumed


@pytest.mark.slow
def test_wscol_lpld_adaptation_trains_and_checkpoints_the_memory(tmp_path, plain_source_checkpoint):
    import torch
    cfg = osp.join(SFOD_DIR, WSCOL[1])
    run_tool('tools/train.py', cfg, '--work-dir', str(tmp_path), '--cfg-options', *ADAPT_TINY,
             f'load_from={plain_source_checkpoint}', 'model.semi_train_cfg.pseudo_thr=0.0')
    log = open(sorted(glob.glob(str(tmp_path / '*' / '*.log')))[-1]).read()
    assert 'Iter(train) [4/4]' in log and 'pascal_voc/AP50' in log
    for key in ('loss_wscol_distill', 'loss_wscol_con', 'loss_lpld'):
        assert key in log
    state = torch.load(tmp_path / 'iter_4.pth', map_location='cpu', weights_only=False)['state_dict']
    assert state['adaptations.0.bank_filled'].sum() > 0  # the memory bank travels with the checkpoint
    assert 'adaptations.0.prototypes' in state and 'adaptations.0.mapping.fc_embed.weight' in state


def test_wscol_own_recipe_ablation_changes_only_the_recipe():
    base = load('wscol_faster-rcnn_r18_fpn_shapes-fog.py').to_dict()
    ablation = load('ablations/wscol-own-recipe_faster-rcnn_r18_fpn_shapes-fog.py').to_dict()
    assert ablation['model'].pop('semi_train_cfg')['pseudo_thr'] == 0.9
    assert ablation.pop('custom_hooks') == [dict(type='TeacherEMAHook', keep_rate=0.9, by_epoch=True)]
    base['model'].pop('semi_train_cfg')
    base.pop('custom_hooks')
    assert ablation == base
