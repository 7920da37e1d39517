"""Shared fixtures: the repository root as working directory and tiny training runs."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(ROOT, 'configs/demo/atss_r18_fpn_shapes.py')
ROT_DEMO_CFG = osp.join(ROOT, 'configs/demo/rotated_fcos_r18_fpn_shapes_rot.py')
# Real DOTA files (one patch, two aerial photographs) copied from ../shared/data/dota_sample.
DOTA_SAMPLE = osp.join(ROOT, 'tests', 'data', 'dota_sample')

# A few iterations, evaluated on a handful of validation images: checks wiring, not accuracy.
TINY = ['train_cfg.max_iters=4', 'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'val_dataloader.dataset.indices=4', 'param_scheduler.0.end=2', 'param_scheduler.1.begin=2',
        'param_scheduler.1.end=4']


@pytest.fixture(autouse=True, scope='session')
def _repo_cwd():
    """Configs name data roots relative to the repository root, as the tools expect."""
    old = os.getcwd()
    os.chdir(ROOT)
    yield
    os.chdir(old)


def _default_scope_state():
    from mmengine.registry import DefaultScope
    return DefaultScope._instance_dict


_SESSION_SCOPES = dict(_default_scope_state())


@pytest.fixture(autouse=True)
def _isolate_default_scope():
    """Every test starts with the default scope the session started with (none): a test or a
    module fixture that sets MMEngine's global default scope must not leak it into the next test
    (an mmrotate-scope build then fails to find mmdet names, and the other way round)."""
    scopes = _default_scope_state()
    scopes.clear()
    scopes.update(_SESSION_SCOPES)
    yield


def run_tool(*args, env=None, timeout=600, check=True):
    """Run a tool of ``tools/`` in a subprocess with this interpreter; return the result."""
    full_env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc


# One iteration of one image, validation on two images; score_thr 0 so that the barely trained
# model still outputs boxes for the metric to score. For full-size configs on the embedded data.
ONE_ITER = [o for o in TINY if not o.startswith(('train_cfg.', 'param_scheduler', 'train_dataloader.batch_size',
                                                 'val_dataloader.dataset.indices', 'default_hooks.checkpoint'))]
ONE_ITER += ['train_cfg.max_iters=1', 'train_cfg.val_interval=1', 'train_dataloader.batch_size=1',
             'val_dataloader.dataset.indices=2', 'default_hooks.checkpoint.interval=1', 'param_scheduler.0.end=1',
             'param_scheduler.1.begin=1', 'param_scheduler.1.end=2']


def on_embedded_data(config, data_config, out_file, img_scale=None):
    """Dump ``config`` with ``data_config``'s data, schedule and hooks, a from-scratch backbone
    and 3 classes (the full-size datasets are not on these machines, nor pretrained weights).
    ``img_scale``: resize the embedded images (a model that needs more locations than 256 px give)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    data = Config.fromfile(data_config)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator', 'test_evaluator',
                'train_cfg', 'param_scheduler', 'default_hooks', 'log_processor'):
        cfg[key] = data[key]
    if img_scale:
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            for step in loader.dataset.pipeline:
                if step.type == 'Resize':
                    step.scale = img_scale
    cfg.model.backbone.init_cfg = None
    head = cfg.model.roi_head.bbox_head if 'roi_head' in cfg.model else cfg.model.bbox_head
    head.num_classes = 3
    cfg.work_dir = None
    cfg.dump(str(out_file))


@pytest.fixture(scope='session')
def tiny_demo_run(tmp_path_factory):
    """The horizontal demo config trained for 4 iterations; returns its work dir."""
    work_dir = str(tmp_path_factory.mktemp('tiny_demo'))
    run_tool('tools/train.py', DEMO_CFG, '--work-dir', work_dir, '--cfg-options', *TINY)
    return work_dir
