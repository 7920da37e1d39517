"""Train the small Plain DETR on `shapes` with and without BoxRPB (same seed, same budget).

    .venv/bin/python benchmarks/plain_detr_accuracy.py [--only boxrpb|plain|reparam] [--reparam]
        [--iters N] [--lr LR] [--work-root work_dirs/bench_plain_detr]

Runs (configs/plain_detr/README.md): ResNet-18 from scratch, last stage upsampled to stride 16,
d = 128, 3 decoder layers, 50 one-to-one + 100 one-to-many queries, the demo budget (700
iterations, batch 8, validation every 100) unless ``--iters`` shortens it (smoke runs):

  boxrpb   configs/plain_detr/plain_detr_r18_shapes.py          global cross-attention + BoxRPB
  plain    configs/plain_detr/plain_detr_r18_shapes_no_rpb.py   plain global cross-attention
  reparam  configs/plain_detr/plain_detr_r18_shapes_reparam.py  BoxRPB + box re-parameterisation
           (optional row: only with ``--reparam`` or ``--only reparam``)

Every run is trained with ``randomness.seed`` = ``--seed`` (default 0). Each finished run
is appended to ``<work-root>/results.jsonl``; the last printed line is one JSON object with
``<name>_metric`` (final bbox mAP@0.5 on `shapes` val), ``<name>_best``, ``<name>_minutes``,
``boxrpb_minus_plain`` and, when both ran, ``reparam_minus_boxrpb``. Two CPU cores: about
9-14 minutes a run at the full budget.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

RUNS = [
    ('boxrpb', 'configs/plain_detr/plain_detr_r18_shapes.py'),
    ('plain', 'configs/plain_detr/plain_detr_r18_shapes_no_rpb.py'),
    ('reparam', 'configs/plain_detr/plain_detr_r18_shapes_reparam.py'),
]
OPTIONAL = {'reparam'}
METRIC = 'coco/bbox_mAP_50'


def with_budget(config: str, iters: int, out_dir: str, lr: float = 0.0) -> str:
    """``config`` with (when ``iters``) an ``iters``-iteration schedule and (when ``lr``) another
    AdamW learning rate. The seed is set by ``train_and_record``."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    if lr:
        cfg.optim_wrapper.optimizer.lr = lr
    if iters:
        val = max(1, iters // 2)
        warm = max(1, iters // 7)
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=val)
        cfg.param_scheduler[0].end = warm
        cfg.param_scheduler[1].begin = warm
        cfg.param_scheduler[1].end = iters
        cfg.default_hooks.checkpoint.interval = val
        cfg.default_hooks.logger.interval = 1
    path = osp.join(out_dir, osp.basename(config))
    cfg.dump(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', choices=[n for n, _ in RUNS])
    parser.add_argument('--reparam', action='store_true', help='also run the optional box re-parameterisation row')
    parser.add_argument('--iters', type=int, default=0, help='shorter schedule (smoke runs); 0 = the config\'s 700')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--lr', type=float, default=0.0,
                        help="AdamW lr for every run (0 = the configs' 1e-3, the demo's; the paper's is 2e-4)")
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'bench_plain_detr'))
    args = parser.parse_args()
    from demo_accuracy import train_and_record  # the demo benchmark's runner: fresh work dir, timed
    os.makedirs(args.work_root, exist_ok=True)
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in RUNS:
            if (args.only and name != args.only) or (not args.only and name in OPTIONAL and not args.reparam):
                continue
            cfg_path = with_budget(config, args.iters, tmp, args.lr)
            run_dir = name if not args.lr else f'{name}_lr{args.lr:g}'
            summary.update(train_and_record(name, config, METRIC, args.work_root, cfg_path=cfg_path,
                                            run_dir=run_dir, seed=args.seed, iters=args.iters or 700,
                                            lr=args.lr or None))
    if 'boxrpb_metric' in summary and 'plain_metric' in summary:
        summary['boxrpb_minus_plain'] = round(summary['boxrpb_metric'] - summary['plain_metric'], 4)
    if 'reparam_metric' in summary and 'boxrpb_metric' in summary:
        summary['reparam_minus_boxrpb'] = round(summary['reparam_metric'] - summary['boxrpb_metric'], 4)
    summary['iters'] = args.iters or 700
    if args.lr:
        summary['lr'] = args.lr
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
