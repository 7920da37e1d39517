"""Test (and evaluate) a detector: MMDetection's ``tools/test.py`` interface, both scopes.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                                           [--show-dir DIR] [--cfg-options ...] [--launcher pytorch]
"""
import argparse
import os
import sys
import warnings
from copy import deepcopy

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402

import mmdet_ext  # noqa: E402,F401
from mmdet_ext.utils import check_data_paths, prepare_cpu_distributed  # noqa: E402
from mmdet_ext.utils.launch import build_runner, finish_distributed, load_tool_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', type=str, help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory (under work_dir/timestamp) for painted images')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value, merged into the config')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--tta', action='store_true', help='flip test-time augmentation')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _enable_flip_tta(cfg: Config) -> Config:
    """MMDetection's default flip TTA when the config defines none."""
    if 'tta_model' not in cfg:
        warnings.warn('No tta_model in the config: using DetTTAModel with NMS 0.5')
        cfg.tta_model = dict(type='mmdet.DetTTAModel',
                             tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    if 'tta_pipeline' not in cfg:
        warnings.warn('No tta_pipeline in the config: flipping the test pipeline')
        data_cfg = cfg.test_dataloader.dataset
        while 'dataset' in data_cfg:
            data_cfg = data_cfg['dataset']
        cfg.tta_pipeline = deepcopy(data_cfg.pipeline)
        cfg.tta_pipeline[-1] = dict(
            type='mmdet.TestTimeAug',
            transforms=[[dict(type='mmdet.RandomFlip', prob=1.), dict(type='mmdet.RandomFlip', prob=0.)],
                        [dict(type='mmdet.PackDetInputs',
                              meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                         'scale_factor', 'flip', 'flip_direction'))]])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def main(argv=None):
    args = parse_args(argv)
    from mmdet.engine.hooks.utils import trigger_visualization_hook
    from mmdet.evaluation import DumpDetResults
    cfg = load_tool_config(args)
    if not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        cfg = _enable_flip_tta(cfg)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out {args.out!r}: the dump file must end with .pkl or .pickle')

    check_data_paths(cfg, splits=('test',))
    prepare_cpu_distributed(cfg, args.launcher)
    runner = build_runner(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
