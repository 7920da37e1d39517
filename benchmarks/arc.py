"""ResNet-50 vs ARC-ResNet-50 (issue 5): speed, peak memory and parameters, on the same inputs.

    .venv/bin/python benchmarks/arc.py [--reps 3] [--threads N] [--skip-memory]

Both backbones are built as the DOTA configs of configs/arc use them (out_indices 0-3,
frozen stage 1, frozen BN; ARC: stages 2-4 replaced, n = 4), ARC-ResNet-50 loads the ResNet-50's
weights (inflation), and both run on the very same input tensors:

* ``fwd``: inference (eval mode, no grad), ARC on its default path ('auto': per-image convs
  on CPU) and, for reference, forced onto the grouped-conv path (``fwd_grouped``);
* ``train``: train mode, forward + backward of the mean of all outputs.

Settings: batch 2 at 512x512 and batch 1 at 1024x1024. Times are medians of ``--reps`` runs after
one warm-up run, the models alternating within each repetition (a shared machine's load
drifts). ``fwd_ratio`` / ``train_ratio`` are ARC / ResNet for the *worse* of the two
settings. Peak memory: each (model, setting, mode) runs once in a fresh subprocess (model and
input built, a small warm-up pass done), whose resident-set high-water mark is reset just before
the pass (``/proc/self/clear_refs``); it reports VmHWM after the pass minus VmRSS before it: the
peak of what the pass itself holds (activations, per-image kernels, autograd buffers, allocator
caching) on CPU. (Not ``getrusage().ru_maxrss``: Linux carries the parent's high-water mark
into a forked + exec'd child, which hides the child's own peak.)

The last printed line is one JSON object with fwd_ratio, train_ratio, params_m_resnet,
params_m_arc (and the per-setting details). Targets: fwd_ratio <= 1.25, train_ratio <= 1.4;
params: +33.6 M (spec) within 1%.
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

SETTINGS = {'b2_512': (2, 512), 'b1_1024': (1, 1024)}
BACKBONE = dict(depth=50, out_indices=(0, 1, 2, 3), frozen_stages=1, norm_eval=True, style='pytorch')


def build(kind: str, impl: str = 'auto'):
    """A ResNet-50 ('resnet') or ARC-ResNet-50 ('arc') backbone with deterministic weights."""
    import torch
    from mmdet.models.backbones import ResNet

    from mmdet_ext.models.backbones import ARCResNet
    torch.manual_seed(0)
    resnet = ResNet(**BACKBONE)
    resnet.init_weights()
    if kind == 'resnet':
        return resnet
    arc = ARCResNet(**BACKBONE, arc_cfg=dict(impl=impl))
    arc.init_weights()
    arc.load_state_dict(resnet.state_dict(), strict=False)  # same weights: inflation
    return arc


def make_input(setting: str):
    import torch
    batch, size = SETTINGS[setting]
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, 3, size, size, generator=gen)


def run_once(model, x, mode: str):
    import torch
    if mode == 'train':
        model.train()
        outs = model(x)
        sum(o.float().mean() for o in outs).backward()
        model.zero_grad(set_to_none=True)
    else:
        model.eval()
        with torch.no_grad():
            model(x)


def timed(models: dict, x, mode: str, reps: int) -> dict:
    """Median seconds of ``mode`` per model; the models alternate within each repetition so a
    drift in machine load hits all of them alike."""
    for model in models.values():
        run_once(model, x, mode)  # warm-up: oneDNN primitives, allocator
    times = {name: [] for name in models}
    for _ in range(reps):
        for name, model in models.items():
            start = time.perf_counter()
            run_once(model, x, mode)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def memory_child(kind: str, setting: str, mode: str, impl: str) -> None:
    """Run one pass in this (fresh) process; print its peak RSS above the pre-pass RSS in MiB.

    ``getrusage().ru_maxrss`` cannot be used as is in a child: Linux carries the parent's
    high-water mark across fork + exec, so a big parent hides the child's peak. The per-process
    high-water mark (VmHWM) is reset to the current RSS just before the pass instead
    (``/proc/self/clear_refs`` = 5), and read after it.
    """
    import torch
    from mmdet.models.backbones import ResNet

    from mmdet_ext.models.backbones import ARCResNet
    model = ResNet(**BACKBONE) if kind == 'resnet' else ARCResNet(**BACKBONE, arc_cfg=dict(impl=impl))
    x = make_input(setting)
    if mode != 'train':
        model.eval()
    with torch.no_grad():
        model(x[:, :, :64, :64])  # load oneDNN / allocator code paths outside the measurement
    peak = peak_rss_mib(lambda: run_once(model, x, mode))
    print(json.dumps({'peak_mib': round(peak, 1)}))


def peak_memory(kind: str, setting: str, mode: str, threads: int, impl: str = 'auto') -> float:
    cmd = [sys.executable, osp.abspath(__file__), '--mem-child', kind, setting, mode, impl,
           '--threads', str(threads)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT)).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_mib']


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument('--mem-child', nargs=4, metavar=('KIND', 'SETTING', 'MODE', 'IMPL'))
    args = parser.parse_args()

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mem_child:
        memory_child(*args.mem_child)
        return
    threads = torch.get_num_threads()
    import logging
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights' per-parameter log

    models = {'resnet': build('resnet'), 'arc': build('arc'), 'arc_grouped': build('arc', 'grouped')}
    params = {k: sum(p.numel() for p in models[k].parameters()) for k in ('resnet', 'arc')}
    print(f'threads {threads}; params: ResNet-50 {params["resnet"] / 1e6:.3f} M, ARC-ResNet-50 '
          f'{params["arc"] / 1e6:.3f} M (+{(params["arc"] - params["resnet"]) / 1e6:.3f} M; spec +33.6 M)',
          flush=True)
    result = {'threads': threads, 'reps': args.reps, 'settings': {}}
    for setting in args.settings:
        x = make_input(setting)
        row = {}
        for name, sec in timed(models, x, 'fwd', args.reps).items():
            row[f'fwd_{name}_s'] = sec
        train_models = {k: models[k] for k in ('resnet', 'arc')}  # 'auto' trains on the grouped path
        for name, sec in timed(train_models, x, 'train', args.reps).items():
            row[f'train_{name}_s'] = sec
        row['fwd_ratio'] = row['fwd_arc_s'] / row['fwd_resnet_s']
        row['fwd_grouped_ratio'] = row['fwd_arc_grouped_s'] / row['fwd_resnet_s']
        row['train_ratio'] = row['train_arc_s'] / row['train_resnet_s']
        if not args.skip_memory:
            for mode in ('fwd', 'train'):
                for kind in ('resnet', 'arc'):
                    row[f'peak_mib_{mode}_{kind}'] = peak_memory(kind, setting, mode, threads)
        row = {k: round(v, 3) for k, v in row.items()}
        result['settings'][setting] = row
        print(f'{setting}: ' + ', '.join(f'{k} {v}' for k, v in row.items()), flush=True)
    rows = result['settings'].values()
    result.update(
        fwd_ratio=round(max(r['fwd_ratio'] for r in rows), 3),
        train_ratio=round(max(r['train_ratio'] for r in rows), 3),
        params_m_resnet=round(params['resnet'] / 1e6, 3),
        params_m_arc=round(params['arc'] / 1e6, 3),
        memory_method='VmHWM (reset before the pass) minus pre-pass VmRSS, one pass in a fresh subprocess, MiB')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
