"""RetinaNet R-50: plain FPN + head tower vs each SEPC variant (issue 4): whole-detector inference
time and peak memory on the same inputs.

    .venv/bin/python benchmarks/sepc.py [--reps 3] [--threads N] [--skip-memory] [--settings b2_512 b2_800x1333]
        [--dcn-impl auto|torch|torchvision|mmcv] [--profile]

Detectors: mmdet's ``retinanet_r50_fpn_1x_coco`` (baseline: FPN, 4-conv towers) and
``configs/sepc/retinanet_r50_fpn_{pconv,ibn-pconv,sepc-lite,sepc}_1x_coco.py``; deterministic random
weights (same seed; offsets convs zero as at initialisation: the cost of the deformable path does
not depend on the offset values), eval mode, ``torch.no_grad``, ``model._forward`` (backbone, neck,
head; NMS left out: with random weights its cost depends on how many random scores pass the
score threshold, measured here to swing the whole time by 2x between otherwise equal models). Settings: batch 2 at 512x512 and at 800x1333. Times are medians of
``--reps`` runs after a warm-up, the models alternating within each repetition (a shared machine's
load drifts). Peak memory: each (model, setting) runs once in a fresh subprocess; VmHWM reset
before the pass (``/proc/self/clear_refs``), reported as VmHWM after minus VmRSS before (MiB),
as benchmarks/arc.py does.

Last line: one JSON object with ``lite_time_ratio``, ``sepc_time_ratio``, ``pconv_time_ratio``
(variant / baseline, the worse of the two settings) and the details. Targets: lite <= 1.07,
pconv <= 1.05. ``--profile`` prints torch.profiler's top operators for SEPC-lite at 800x1333.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

from _rss import peak_rss_mib  # benchmarks/_rss.py: the script's folder is on sys.path

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

SETTINGS = {'b2_512': (2, 512, 512), 'b2_800x1333': (2, 800, 1333)}
CONFIGS = {
    'baseline': 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    'pconv': 'configs/sepc/retinanet_r50_fpn_pconv_1x_coco.py',
    'ibn_pconv': 'configs/sepc/retinanet_r50_fpn_ibn-pconv_1x_coco.py',
    'lite': 'configs/sepc/retinanet_r50_fpn_sepc-lite_1x_coco.py',
    'sepc': 'configs/sepc/retinanet_r50_fpn_sepc_1x_coco.py',
}


def build(name: str, dcn_impl: str = 'auto'):
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmdet_ext  # noqa: F401
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    path = CONFIGS[name]
    if path.startswith('mmdet::'):
        import mmdet
        path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', path[len('mmdet::'):])
    cfg = Config.fromfile(path if osp.isabs(path) else osp.join(ROOT, path))
    cfg.model.backbone.init_cfg = None
    if isinstance(cfg.model.neck, list):
        cfg.model.neck[1].dcn_impl = dcn_impl
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def make_input(setting: str):
    import torch
    from mmdet.structures import DetDataSample
    n, h, w = SETTINGS[setting]
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, h, w, generator=gen)
    samples = [DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                           batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
               for _ in range(n)]
    return images, samples


def run_once(model, inputs):
    """Backbone + neck + head (``_forward``): post-processing is left out, because with random
    weights its cost depends on how many random scores pass the threshold, not on the neck."""
    import torch
    with torch.no_grad():
        model._forward(inputs[0])


def timed(models: dict, inputs, reps: int) -> dict:
    for model in models.values():
        run_once(model, inputs)  # warm-up
    times = {name: [] for name in models}
    for _ in range(reps):
        for name, model in models.items():
            start = time.perf_counter()
            run_once(model, inputs)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def memory_child(name: str, setting: str, dcn_impl: str) -> None:
    """One pass in this fresh process: VmHWM after minus VmRSS before (VmHWM reset first)."""
    model = build(name, dcn_impl)
    images, samples = make_input(setting)
    run_once(model, (images[:1, :, :128, :128], [samples[0]]))  # code paths loaded outside the measurement
    peak = peak_rss_mib(lambda: run_once(model, (images, samples)))
    print(json.dumps({'peak_mib': round(peak, 1)}))


def peak_memory(name: str, setting: str, threads: int, dcn_impl: str) -> float:
    cmd = [sys.executable, osp.abspath(__file__), '--mem-child', name, setting, '--threads', str(threads),
           '--dcn-impl', dcn_impl]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT)).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_mib']


def profile(model, inputs) -> None:
    import torch
    from torch.profiler import profile as tprofile
    with torch.no_grad(), tprofile() as prof:
        model._forward(inputs[0])
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=15), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument('--dcn-impl', default='auto', choices=['auto', 'torch', 'torchvision', 'mmcv'])
    parser.add_argument('--mem-child', nargs=2, metavar=('NAME', 'SETTING'))
    args = parser.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    import logging
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    if args.mem_child:
        memory_child(*args.mem_child, args.dcn_impl)
        return
    threads = torch.get_num_threads()
    models = {name: build(name, args.dcn_impl) for name in CONFIGS}
    result = {'threads': threads, 'reps': args.reps, 'dcn_impl': args.dcn_impl, 'settings': {}}
    for setting in args.settings:
        inputs = make_input(setting)
        row = {f'{k}_s': v for k, v in timed(models, inputs, args.reps).items()}
        for name in CONFIGS:
            if name != 'baseline':
                row[f'{name}_time_ratio'] = row[f'{name}_s'] / row['baseline_s']
        if not args.skip_memory:
            for name in CONFIGS:
                row[f'{name}_peak_mib'] = peak_memory(name, setting, threads, args.dcn_impl)
        row = {k: round(v, 3) for k, v in row.items()}
        result['settings'][setting] = row
        print(f'{setting}: ' + ', '.join(f'{k} {v}' for k, v in row.items()), flush=True)
        if args.profile and setting == 'b2_800x1333':
            profile(models['lite'], inputs)
    rows = list(result['settings'].values())
    for name, key in (('lite', 'lite_time_ratio'), ('sepc', 'sepc_time_ratio'), ('pconv', 'pconv_time_ratio'),
                      ('ibn_pconv', 'ibn_pconv_time_ratio')):
        result[key] = round(max(r[f'{name}_time_ratio'] for r in rows), 3)
    result['memory_method'] = ('VmHWM (reset before the pass) minus pre-pass VmRSS, one pass in a fresh '
                               'subprocess, MiB')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
