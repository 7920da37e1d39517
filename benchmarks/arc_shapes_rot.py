"""ARC vs plain ResNet-18 on `shapes-rot`: train each detector pair with the demo's budget.

    .venv/bin/python benchmarks/arc_shapes_rot.py [--only retinanet|oriented_rcnn]
        [--cfg-options train_cfg.max_iters=...] [--work-root work_dirs/bench_arc]

For each detector (rotated RetinaNet, Oriented R-CNN) the plain-ResNet-18 baseline and the
ARC-ResNet-18 config of configs/arc are trained from scratch with the same data, schedule
(configs/_base_/schedules/demo_iter.py: batch 8, AdamW 1e-3, 700 iterations) and seed 0, and
validated with DOTAMetric on the held-out split. Prints a side-by-side table and, as its last
line, one JSON object: {detector: {plain: {...}, arc: {...}}} with final / best dota/mAP and
minutes. Long: run it on an otherwise idle machine.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
PAIRS = {
    'retinanet': ('configs/arc/rotated-retinanet-rbox-le90_r18_fpn_shapes-rot.py',
                  'configs/arc/rotated-retinanet-rbox-le90_arc-r18_fpn_shapes-rot.py'),
    'oriented_rcnn': ('configs/arc/oriented-rcnn-le90_r18_fpn_shapes-rot.py',
                      'configs/arc/oriented-rcnn-le90_arc-r18_fpn_shapes-rot.py'),
}
METRIC = 'dota/mAP'


def train_and_score(config: str, work_dir: str, cfg_options):
    """Train ``config`` into a fresh ``work_dir``; return final / best mAP, minutes, curve."""
    from mmdet_ext.visualization import load_scalars
    shutil.rmtree(work_dir, ignore_errors=True)
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir]
    if cfg_options:
        cmd += ['--cfg-options', *cfg_options]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    minutes = (time.perf_counter() - start) / 60
    _, val = load_scalars(work_dir)
    curve = [(r.get('step'), round(r[METRIC], 4)) for r in val if METRIC in r]
    if not curve:
        raise RuntimeError(f'{config}: no {METRIC} in the validation logs of {work_dir}')
    return dict(final=curve[-1][1], best=max(v for _, v in curve), minutes=round(minutes, 2),
                curve=curve)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', choices=sorted(PAIRS))
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'bench_arc'))
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    result = {}
    for name, (plain, arc) in PAIRS.items():
        if args.only and name != args.only:
            continue
        result[name] = {}
        for kind, config in (('plain', plain), ('arc', arc)):
            score = train_and_score(config, osp.join(args.work_root, f'{name}_{kind}'), args.cfg_options)
            result[name][kind] = score
            print(f'{name:14s} {kind:5s} final {METRIC} {score["final"]:.3f} (best {score["best"]:.3f}) '
                  f'in {score["minutes"]:.1f} min; curve {score["curve"]}', flush=True)
    print(f'{"detector":14s} {"plain":>8s} {"ARC":>8s}   (final {METRIC}, same data / budget / seed)')
    for name, row in result.items():
        print(f'{name:14s} {row["plain"]["final"]:8.3f} {row["arc"]["final"]:8.3f}')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
