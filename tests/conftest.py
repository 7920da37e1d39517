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


@pytest.fixture(scope='session')
def tiny_demo_run(tmp_path_factory):
    """The horizontal demo config trained for 4 iterations; returns its work dir."""
    work_dir = str(tmp_path_factory.mktemp('tiny_demo'))
    run_tool('tools/train.py', DEMO_CFG, '--work-dir', work_dir, '--cfg-options', *TINY)
    return work_dir
