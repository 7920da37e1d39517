"""Train the SEPC shapes configs and their plain-FPN baselines to the demo budget; report accuracy.

    .venv/bin/python benchmarks/sepc_accuracy.py [--only NAME[,NAME]] [--iters N] [--seed N]
        [--work-root work_dirs/bench_sepc]

Every run is the demo recipe (ResNet-18 + FPN 128 channels from scratch, batch 8, AdamW 1e-3,
700 iterations, validation every 100, seed 0; configs/demo/README.md), in this order:

  retina_baseline   configs/sepc/retinanet_r18_fpn_shapes.py         plain FPN + 4-conv GN towers
  retina_baseline_no_gn  configs/sepc/retinanet_r18_fpn_no-gn_shapes.py  the towers without GN (the paper's baseline)
  retina_pconv      configs/sepc/retinanet_r18_fpn_pconv_shapes.py
  retina_ibn_pconv  configs/sepc/retinanet_r18_fpn_ibn-pconv_shapes.py
  retina_sepc_lite  configs/sepc/retinanet_r18_fpn_sepc-lite_shapes.py
  retina_sepc       configs/sepc/retinanet_r18_fpn_sepc_shapes.py
  atss_baseline     configs/demo/atss_r18_fpn_shapes.py              the demo ATSS (2-conv GN towers)
  atss_baseline_4conv  configs/sepc/atss_r18_fpn_4conv_shapes.py     the same with 4-conv GN towers
  atss_ibn_pconv_plain_4conv  ..._ibn-pconv-plain_4conv_shapes.py    ablation: iBN + PConv features into those towers
  atss_gn_pconv     configs/sepc/atss_r18_fpn_gn-pconv_shapes.py     ablation: iBN + PConv with GroupNorm for iBN
  atss_pconv ... atss_sepc                                           configs/sepc/atss_r18_fpn_*_shapes.py
  frcnn_baseline    configs/sepc/faster-rcnn_r18_fpn_shapes.py
  frcnn_pconv       configs/sepc/faster-rcnn_r18_fpn_pconv_shapes.py

``--iters N`` shortens every run to N iterations (smoke test of the script; validation and a
checkpoint at the end). Each finished run is appended to ``<work-root>/results.jsonl``; the last
line printed is one JSON object: ``<name>_metric`` (final bbox mAP@0.5 on `shapes` val),
``<name>_best``, ``<name>_minutes``, and ``<name>_delta`` (variant minus its baseline).
Two CPU cores: about 10-20 minutes a run.
"""
import argparse
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

METRIC = 'coco/bbox_mAP_50'
VARIANTS = ['pconv', 'ibn-pconv', 'sepc-lite', 'sepc']
RUNS = ([('retina_baseline', 'configs/sepc/retinanet_r18_fpn_shapes.py'),
         ('retina_baseline_no_gn', 'configs/sepc/retinanet_r18_fpn_no-gn_shapes.py')]
        + [(f'retina_{v.replace("-", "_")}', f'configs/sepc/retinanet_r18_fpn_{v}_shapes.py') for v in VARIANTS]
        + [('atss_baseline', 'configs/demo/atss_r18_fpn_shapes.py'),
           ('atss_baseline_4conv', 'configs/sepc/atss_r18_fpn_4conv_shapes.py'),
           ('atss_ibn_pconv_plain_4conv', 'configs/sepc/atss_r18_fpn_ibn-pconv-plain_4conv_shapes.py'),
           ('atss_gn_pconv', 'configs/sepc/atss_r18_fpn_gn-pconv_shapes.py')]
        + [(f'atss_{v.replace("-", "_")}', f'configs/sepc/atss_r18_fpn_{v}_shapes.py') for v in VARIANTS]
        + [('frcnn_baseline', 'configs/sepc/faster-rcnn_r18_fpn_shapes.py'),
           ('frcnn_pconv', 'configs/sepc/faster-rcnn_r18_fpn_pconv_shapes.py')])


def shortened(config: str, iters: int, work_root: str) -> str:
    """``config`` cut to ``iters`` iterations (validated and checkpointed at the end)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = 1
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=max(iters // 2, 1)),
                           dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=max(iters // 2, 1), end=iters)]
    cfg.val_dataloader.dataset.indices = 16  # a smoke run: a few validation images
    # a barely trained model scores below the usual threshold: keep its boxes so the metric exists
    test_cfg = cfg.model.test_cfg.rcnn if 'rcnn' in cfg.model.test_cfg else cfg.model.test_cfg
    test_cfg.score_thr = 0.0
    cfg.test_dataloader = cfg.val_dataloader
    out = osp.join(work_root, 'smoke_configs', osp.basename(config))
    os.makedirs(osp.dirname(out), exist_ok=True)
    cfg.dump(out)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', help='comma-separated run names')
    parser.add_argument('--iters', type=int, help='shorten every run to this many iterations (smoke test)')
    parser.add_argument('--seed', type=int, help="instead of the configs' seed 0 (names get _seed<N>)")
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'bench_sepc'))
    args = parser.parse_args()
    from demo_accuracy import train_and_record  # the demo benchmark's runner: fresh work dir, timed
    runs = RUNS
    if args.only:
        wanted = set(args.only.split(','))
        unknown = wanted - {name for name, _ in RUNS}
        if unknown:
            parser.error(f'unknown run names {sorted(unknown)}; known: {[n for n, _ in RUNS]}')
        runs = [r for r in RUNS if r[0] in wanted]
    os.makedirs(args.work_root, exist_ok=True)
    summary = {}
    if args.seed is not None:
        runs = [(f'{name}_seed{args.seed}', config) for name, config in runs]
    for name, config in runs:
        cfg_path = shortened(config, args.iters, args.work_root) if args.iters else config
        summary.update(train_and_record(name, config, METRIC, args.work_root, cfg_path=cfg_path, seed=args.seed,
                                        iters=args.iters or 700))
    for name, _ in runs:
        base = name.split('_')[0] + '_baseline' + (f'_seed{args.seed}' if args.seed is not None else '')
        if name != base and f'{base}_metric' in summary:
            summary[f'{name}_delta'] = round(summary[f'{name}_metric'] - summary[f'{base}_metric'], 4)
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
