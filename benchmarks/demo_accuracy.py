"""Train both demo configs from scratch and report accuracy and wall-clock time.

    .venv/bin/python benchmarks/demo_accuracy.py [--only shapes|rot] [--work-root work_dirs/bench_demo]

Run by hand on an otherwise idle machine (2 cores: about 30 minutes). Prints a table and, as
its last line, one JSON object: shapes_bbox_mAP50, shapes_minutes, rot_dota_mAP, rot_minutes.
Targets (shapes.md): shapes_bbox_mAP50 >= 0.8 and rot_dota_mAP >= 0.4, each within 15 minutes.
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
RUNS = {
    'shapes': ('configs/demo/atss_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    'rot': ('configs/demo/rotated_fcos_r18_fpn_shapes_rot.py', 'dota/mAP'),
}


def train_and_score(config: str, metric: str, work_dir: str, seed=None):
    """Train ``config`` into a fresh ``work_dir`` (``seed``: instead of the config's
    ``randomness.seed``); return (final metric, best metric, minutes, curve)."""
    from mmdet_ext.visualization import load_scalars
    shutil.rmtree(work_dir, ignore_errors=True)
    start = time.perf_counter()
    extra = [] if seed is None else ['--cfg-options', f'randomness.seed={seed}']
    subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir', work_dir, *extra], cwd=ROOT,
                   check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    minutes = (time.perf_counter() - start) / 60
    _, val = load_scalars(work_dir)
    scores = [r[metric] for r in val if metric in r]
    if not scores:
        raise RuntimeError(f'{config}: no {metric} in the validation logs of {work_dir}')
    return scores[-1], max(scores), minutes, [(r.get('step'), r[metric]) for r in val if metric in r]


def train_and_record(name: str, config: str, metric: str, work_root: str, *, cfg_path: str = None,
                     run_dir: str = None, seed=None, **record) -> dict:
    """The accuracy benchmarks' bookkeeping around :func:`train_and_score`: train ``cfg_path``
    (default ``config``) into ``<work_root>/<run_dir or name>``, print one line, append the run
    (plus ``seed`` and ``record``) to ``<work_root>/results.jsonl`` so a long session keeps what it
    has, and return the summary keys ``<name>_metric``, ``<name>_best``, ``<name>_minutes``."""
    final, best, minutes, curve = train_and_score(cfg_path or config, metric,
                                                  osp.join(work_root, run_dir or name), seed)
    print(f'{name:16s} {config}: final {metric} {final:.3f} (best {best:.3f}) in {minutes:.1f} min; '
          f'curve {curve}', flush=True)
    with open(osp.join(work_root, 'results.jsonl'), 'a') as f:
        f.write(json.dumps(dict(name=name, config=config, metric=metric, final=final, best=best,
                                minutes=minutes, curve=curve, seed=seed, **record)) + '\n')
    return {f'{name}_metric': round(final, 4), f'{name}_best': round(best, 4),
            f'{name}_minutes': round(minutes, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', choices=sorted(RUNS))
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'bench_demo'))
    args = parser.parse_args()
    result = {}
    for name, (config, metric) in RUNS.items():
        if args.only and name != args.only:
            continue
        final, best, minutes, curve = train_and_score(config, metric, osp.join(args.work_root, name))
        print(f'{name:7s} {config}: final {metric} {final:.3f} (best {best:.3f}) in {minutes:.1f} min; '
              f'curve {curve}', flush=True)
        key = 'shapes_bbox_mAP50' if name == 'shapes' else 'rot_dota_mAP'
        result[key] = round(final, 4)
        result[f'{name}_minutes'] = round(minutes, 2)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
