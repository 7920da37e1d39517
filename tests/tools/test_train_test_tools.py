"""End to end through tools/: train a few iterations, evaluate, resume after SIGKILL, 2 processes."""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import DEMO_CFG, ROOT, ROT_DEMO_CFG, TINY, run_tool

pytestmark = pytest.mark.slow


def _last_metrics(work_dir):
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    assert files, f'no metrics json in {work_dir}'
    with open(files[-1]) as f:
        return json.load(f)


def test_horizontal_demo_trains_and_evaluates(tiny_demo_run, tmp_path):
    log = open(glob.glob(osp.join(tiny_demo_run, '*', '*.log'))[0]).read()
    # MMEngine's progress lines: iteration counter, ETA and losses.
    assert 'Iter(train) [4/4]' in log and 'eta:' in log and 'loss_cls:' in log
    assert 'Iter(val) [' in log
    # Validation metrics are logged against the iteration (plots need it), not epoch 0.
    from mmdet_ext.visualization import load_scalars
    train, val = load_scalars(tiny_demo_run)
    assert [r['step'] for r in val] == [4] and train[-1]['step'] == 4
    ckpt = osp.join(tiny_demo_run, 'iter_4.pth')
    out = tmp_path / 'preds.pkl'
    run_tool('tools/test.py', DEMO_CFG, ckpt, '--work-dir', str(tmp_path / 'eval'), '--out', str(out),
             '--show-dir', 'painted', '--cfg-options', 'test_dataloader.dataset.indices=2',
             'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False')
    metrics = _last_metrics(str(tmp_path / 'eval'))
    assert 0.0 <= metrics['coco/bbox_mAP_50'] <= 1.0
    assert out.stat().st_size > 0
    assert len(glob.glob(str(tmp_path / 'eval' / '*' / 'painted' / '*.png'))) == 2


def test_rotated_demo_trains_and_evaluates(tmp_path):
    run_tool('tools/train.py', ROT_DEMO_CFG, '--work-dir', str(tmp_path), '--cfg-options', *TINY)
    log = open(glob.glob(str(tmp_path / '*' / '*.log'))[0]).read()
    assert 'Iter(train) [4/4]' in log and 'dota/mAP' in log
    assert osp.exists(tmp_path / 'iter_4.pth')


def test_resume_after_sigkill_reaches_planned_iterations(tmp_path):
    iters = 12
    opts = [o for o in TINY if not o.startswith(('train_cfg.max_iters', 'param_scheduler'))]
    opts = [o if not o.startswith('train_cfg.val_interval') else f'train_cfg.val_interval={iters}' for o in opts]
    opts += [f'train_cfg.max_iters={iters}', 'param_scheduler.0.end=2', 'param_scheduler.1.begin=2',
             f'param_scheduler.1.end={iters}']
    cmd = [sys.executable, 'tools/train.py', DEMO_CFG, '--work-dir', str(tmp_path), '--cfg-options', *opts]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not glob.glob(str(tmp_path / 'iter_4.pth')) and time.time() < deadline:
        assert proc.poll() is None, 'training ended before it could be killed'
        time.sleep(0.2)
    time.sleep(0.5)  # let the checkpoint finish writing; the kill lands mid-training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not osp.exists(tmp_path / f'iter_{iters}.pth'), 'killed too late to test resuming'

    run_tool('tools/train.py', DEMO_CFG, '--work-dir', str(tmp_path), '--resume', '--cfg-options', *opts)
    assert osp.exists(tmp_path / f'iter_{iters}.pth')
    logs = sorted(glob.glob(str(tmp_path / '*' / '*.log')))
    resumed_log = open(logs[-1]).read()
    assert 'resumed epoch: 0, iter: ' in resumed_log.lower() or 'Auto resumed from' in resumed_log
    assert f'Iter(train) [{iters}/{iters}]' in resumed_log
    assert 'Iter(train) [1/' not in resumed_log, 'resume restarted from scratch'


def test_two_process_cpu_training(tmp_path):
    opts = [o.replace('val_dataloader.dataset.indices=4', 'val_dataloader.dataset.indices=2') for o in TINY]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', PORT=str(29500 + os.getpid() % 1000))
    proc = subprocess.run(['bash', 'tools/dist_train.sh', DEMO_CFG, '2', '--work-dir', str(tmp_path),
                           '--cfg-options', *opts], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert osp.exists(tmp_path / 'iter_4.pth')
    log = open(glob.glob(str(tmp_path / '*' / '*.log'))[0]).read()
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'Iter(train) [4/4]' in log


def test_demo_tool_writes_pictures_and_curves(tmp_path):
    """`make demo`'s script end to end, shortened: train, evaluate, draw predictions and curves."""
    proc = run_tool('tools/demo.py', '--work-dir', str(tmp_path), '--iters', '4', '--num-images', '2')
    assert 'evaluation:' in proc.stdout and 'demo finished' in proc.stdout
    import cv2
    grid = cv2.imread(str(tmp_path / 'predictions.png'))
    assert grid is not None and grid.shape == (512, 1024, 3)  # 2 tiles of 256 px, upscaled 2x
    assert cv2.imread(str(tmp_path / 'curves.png')) is not None
    # Idempotent: a second run finds the finished training and only evaluates and redraws.
    proc = run_tool('tools/demo.py', '--work-dir', str(tmp_path), '--iters', '4', '--num-images', '2')
    assert 'Iter(train)' not in proc.stdout + proc.stderr
