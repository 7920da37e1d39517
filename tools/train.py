"""Train a detector: MMDetection's ``tools/train.py`` interface, for mmdet- and mmrotate-scope configs.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|CKPT]] [--amp]
                                 [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import find_latest_checkpoint  # noqa: E402

import mmdet_ext  # noqa: E402,F401  (registers components, installs safe checkpoint loading)
from mmdet_ext.utils import check_data_paths, prepare_cpu_distributed  # noqa: E402
from mmdet_ext.utils.launch import build_runner, finish_distributed, load_tool_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='enable automatically scaling LR')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or with no value from the latest checkpoint in the work dir')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value (lists as key="[a,b]"), merged into the config')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_tool_config(args)

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not scale or 'base_batch_size' not in scale:
            raise RuntimeError(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        latest = find_latest_checkpoint(cfg.work_dir) if os.path.isdir(cfg.work_dir) else None
        if latest is not None:
            cfg.resume, cfg.load_from = True, latest
        else:
            # Nothing to resume yet: start fresh but keep `load_from` (MMDetection's tool drops
            # it, which would silently start a source-free adaptation from random weights).
            print(f'--resume: no checkpoint in {cfg.work_dir}; starting from load_from={cfg.get("load_from")}')
            cfg.resume = False
    elif args.resume is not None:
        if not os.path.isfile(args.resume):
            raise FileNotFoundError(f'--resume: checkpoint {args.resume!r} does not exist')
        cfg.resume, cfg.load_from = True, args.resume

    check_data_paths(cfg)
    prepare_cpu_distributed(cfg, args.launcher)
    runner = build_runner(cfg)
    runner.train()
    finish_distributed()


if __name__ == '__main__':
    main()
