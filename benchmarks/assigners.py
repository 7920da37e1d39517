"""Benchmark: mmdet ATSSAssigner / mmrotate RotatedATSSAssigner vs SparseATSSAssigner.

Inputs: a 1024 x 1024 image, strides 8..128, one anchor a location (P = 21,824) and a
9-anchor case (3 ratios x 3 scales, P = 196,416); G random boxes of 8..128 px with float
centres (no distance ties), horizontal and rotated (random angle). Per case it reports:

* time of the reference and of ours, measured in this process on the same inputs (ours:
  best of ``--repeats`` after a warm-up; the horizontal reference: best of up to
  ``--repeats``; the rotated reference: run once, and skipped above ``--max-rref-pairs``
  priors x GTs because mmcv's CPU box_iou_rotated costs ~2 us a pair);
* whether ``gt_inds``, ``max_overlaps`` and ``labels`` are identical;
* peak extra memory of one ``assign`` call in a fresh subprocess: the peak resident set
  (VmHWM, reset through /proc/self/clear_refs just before the call; ru_maxrss where that
  is not available) minus the resident set before the call.

Then mmrotate's RBboxOverlaps2D vs SparseRBboxOverlaps2D on ~49k rotated anchors (512 px
image, 9 anchors a location) x 1..8 GTs.

The last line printed is one JSON object with the ratios (``<kind>_speedup_g<G>[_a9]``,
``<kind>_extra_mb_g<G>``, ``<kind>_ref_extra_mb_g<G>``, ``identical``, ...).

Threads: both sides run with ``--threads`` intra-op threads, 1 by default. On a shared
2-core machine where another process keeps a core busy, every parallel region of an op
on more than ~32k elements waits for a scheduler slot (~8 ms measured here), which
swamps an assigner made of many small ops (ours: 0.07 s -> 1.3 s at G=1000 rotated)
while barely showing on one made of a few huge ones. One thread measures the work; use
``--threads 0`` (torch's default) on an otherwise idle machine.

Usage: python benchmarks/assigners.py [--gts 10,100,1000] [--anchors 1,9] [--kinds hbox,rbox]
       [--skip-rref] [--no-mem] [--threads N]
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

STRIDES = [8, 16, 32, 64, 128]


# --------------------------------------------------------------------------- inputs
def make_priors(anchors: int, img: int = 1024):
    """Horizontal anchors (P, 4) and priors per level (mmdet's AnchorGenerator)."""
    from mmdet.models.task_modules.prior_generators import AnchorGenerator
    if anchors == 1:
        gen = AnchorGenerator(strides=STRIDES, ratios=[1.0], octave_base_scale=8, scales_per_octave=1)
    elif anchors == 9:
        gen = AnchorGenerator(strides=STRIDES, ratios=[0.5, 1.0, 2.0], octave_base_scale=4,
                              scales_per_octave=3)
    else:
        raise ValueError('anchors must be 1 or 9')
    levels = gen.grid_priors([(math.ceil(img / s), math.ceil(img / s)) for s in STRIDES], device='cpu')
    return torch.cat(levels), [lv.size(0) for lv in levels]


def make_gts(num: int, kind: str, img: int = 1024, seed: int = 0):
    """G random boxes (8..128 px, float centres in the image) and labels."""
    gen = torch.Generator().manual_seed(seed + num)
    ctr = torch.rand(num, 2, generator=gen) * img
    wh = 8 + torch.rand(num, 2, generator=gen) * 120
    labels = torch.randint(0, 15, (num, ), generator=gen)
    if kind == 'rbox':
        angle = (torch.rand(num, 1, generator=gen) - 0.5) * math.pi
        return torch.cat([ctr, wh, angle], dim=1), labels
    return torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1), labels


def make_case(kind: str, anchors: int, num_gt: int):
    """(assign args for the reference, assign args for ours) on identical data."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmengine.structures import InstanceData
    priors, nlp = make_priors(anchors)
    gts, labels = make_gts(num_gt, kind)
    if kind == 'rbox':
        from mmrotate.structures.bbox import RotatedBoxes
        priors, gts = HorizontalBoxes(priors).convert_to('rbox'), RotatedBoxes(gts)
    return InstanceData(priors=priors), nlp, InstanceData(bboxes=gts, labels=labels)


def make_assigner(impl: str, kind: str):
    import mmdet_ext  # noqa: F401  (registers)
    from mmdet_ext.models.task_modules.assigners import SparseATSSAssigner
    if impl == 'ref':
        if kind == 'hbox':
            from mmdet.models.task_modules.assigners import ATSSAssigner
            return ATSSAssigner(topk=9)
        from mmrotate.models.task_modules.assigners import RotatedATSSAssigner
        return RotatedATSSAssigner(topk=9, iou_calculator=dict(type='RBboxOverlaps2D'))
    calc = dict(type='BboxOverlaps2D') if kind == 'hbox' else dict(type='SparseRBboxOverlaps2D')
    return SparseATSSAssigner(topk=9, iou_calculator=calc)


# --------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def child_memory(impl: str, kind: str, anchors: int, num_gt: int) -> dict:
    """Run one assign in this (fresh) process; return its peak extra memory in MB."""
    warnings.filterwarnings('ignore')
    assigner = make_assigner(impl, kind)
    pi, nlp, gi = make_case(kind, anchors, num_gt)
    # warm-up on 2 GTs so that lazy imports / first-call allocations are not counted
    small = gi[:2]
    assigner.assign(pi, nlp, small)
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM to the current RSS
        before = _status_kb('VmRSS')
        t = time.perf_counter()
        assigner.assign(pi, nlp, gi)
        seconds = time.perf_counter() - t
        extra_kb = _status_kb('VmHWM') - before
        how = 'VmHWM'
    except OSError:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        assigner.assign(pi, nlp, gi)
        seconds = time.perf_counter() - t
        extra_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        how = 'ru_maxrss'
    return dict(extra_mb=max(0, extra_kb) / 1024, seconds=seconds, how=how)


def measure_memory(impl, kind, anchors, num_gt, threads):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', impl, kind, str(anchors), str(num_gt)]
    if threads:
        cmd += ['--threads', str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    if proc.returncode != 0:
        return dict(error=proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f'rc={proc.returncode}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- timing
def time_call(fn, repeats, warmup=True, budget_s=20.0):
    """Best wall time of ``fn`` over ``repeats`` runs (stops early past ``budget_s``)."""
    if warmup:
        fn()
    best, spent, result = float('inf'), 0.0, None
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t
        best, spent = min(best, dt), spent + dt
        if spent > budget_s:
            break
    return best, result


def same_result(a, b) -> bool:
    return (a.num_gts == b.num_gts and torch.equal(a.gt_inds, b.gt_inds) and torch.equal(a.labels, b.labels)
            and torch.equal(a.max_overlaps, b.max_overlaps))


def iou_benchmark(gt_counts, repeats):
    """RBboxOverlaps2D vs SparseRBboxOverlaps2D on ~49k rotated anchors x G GTs."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmrotate.models.task_modules.assigners import RBboxOverlaps2D

    import mmdet_ext  # noqa: F401
    from mmdet_ext.models.task_modules.assigners import SparseRBboxOverlaps2D
    priors, _ = make_priors(9, img=512)
    anchors = HorizontalBoxes(priors).convert_to('rbox').tensor
    rows = []
    for g in gt_counts:
        gts, _ = make_gts(g, 'rbox', img=512, seed=1)
        t_ref, ref = time_call(lambda: RBboxOverlaps2D()(anchors, gts), repeats, warmup=False)
        t_ours, ours = time_call(lambda: SparseRBboxOverlaps2D()(anchors, gts), repeats)
        kept = int((ours != 0).sum())
        rows.append(dict(g=g, pairs=anchors.size(0) * g, t_ref=t_ref, t_ours=t_ours, same=torch.equal(ref, ours),
                         nonzero=kept))
    return anchors.size(0), rows


# --------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gts', default='10,100,1000,3000', help='comma-separated G values')
    parser.add_argument('--anchors', default='1,9', help='anchors per location: 1 and/or 9')
    parser.add_argument('--kinds', default='hbox,rbox')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--max-href-pairs', type=float, default=1.0e8,
                        help='skip the horizontal reference above this many priors x GTs (memory)')
    parser.add_argument('--max-rref-pairs', type=float, default=2.5e7,
                        help='skip the rotated reference above this many priors x GTs (time)')
    parser.add_argument('--max-rref-mem-pairs', type=float, default=2.5e6,
                        help='measure the rotated reference memory (a second run) only up to this')
    parser.add_argument('--skip-rref', action='store_true', help='never run the rotated reference')
    parser.add_argument('--no-mem', action='store_true', help='skip the memory subprocesses')
    parser.add_argument('--iou-gts', default='1,2,4,8', help='G values of the IoU calculator benchmark')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch intra-op threads for both sides (0: torch default); see the module doc')
    parser.add_argument('--child', nargs=4, metavar=('IMPL', 'KIND', 'ANCHORS', 'G'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        impl, kind, anchors, g = args.child
        print(json.dumps(child_memory(impl, kind, int(anchors), int(g))))
        return

    warnings.filterwarnings('ignore')
    gts = [int(x) for x in args.gts.split(',') if x]
    kinds = [k for k in args.kinds.split(',') if k]
    anchor_cases = [int(a) for a in args.anchors.split(',') if a]
    print(f'torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, {os.cpu_count()} CPUs')
    rows, summary, identical = [], {'threads': torch.get_num_threads()}, True
    for kind in kinds:
        for anchors in anchor_cases:
            for g in gts:
                pi, nlp, gi = make_case(kind, anchors, g)
                p = pi.priors.size(0) if hasattr(pi.priors, 'size') else len(pi.priors)
                ref_cap = args.max_href_pairs if kind == 'hbox' else args.max_rref_pairs
                run_ref = p * g <= ref_cap and not (kind == 'rbox' and args.skip_rref)
                ours = make_assigner('ours', kind)
                # ours is cheap: more repeats, so that a busy shared CPU does not decide the number
                t_ours, r_ours = time_call(lambda: ours.assign(pi, nlp, gi), max(5, 3 * args.repeats), budget_s=3.0)
                row = dict(kind=kind, anchors=anchors, P=p, G=g, t_ours=t_ours, pos=int((r_ours.gt_inds > 0).sum()),
                           t_ref=None, same=None, mem_ref=None, mem_ours=None)
                if run_ref:
                    ref = make_assigner('ref', kind)
                    if kind == 'rbox':  # slow: once, no warm-up
                        t_ref, r_ref = time_call(lambda: ref.assign(pi, nlp, gi), 1, warmup=False)
                    else:
                        t_ref, r_ref = time_call(lambda: ref.assign(pi, nlp, gi), args.repeats,
                                                 warmup=p * g <= 1e6, budget_s=10.0)
                    row.update(t_ref=t_ref, same=same_result(r_ref, r_ours))
                    identical &= row['same']
                    del r_ref
                if not args.no_mem:
                    row['mem_ours'] = measure_memory('ours', kind, anchors, g, args.threads).get('extra_mb')
                    mem_cap = ref_cap if kind == 'hbox' else args.max_rref_mem_pairs
                    if run_ref and p * g <= mem_cap:
                        row['mem_ref'] = measure_memory('ref', kind, anchors, g, args.threads).get('extra_mb')
                rows.append(row)
                tag = f'g{g}' + ('' if anchors == 1 else f'_a{anchors}')
                if row['t_ref'] is not None:
                    summary[f'{kind}_speedup_{tag}'] = round(row['t_ref'] / row['t_ours'], 1)
                summary[f'{kind}_ours_s_{tag}'] = round(t_ours, 4)
                if row['mem_ours'] is not None:
                    summary[f'{kind}_extra_mb_{tag}'] = round(row['mem_ours'], 1)
                if row['mem_ref'] is not None:
                    summary[f'{kind}_ref_extra_mb_{tag}'] = round(row['mem_ref'], 1)
                print_row(row, header=len(rows) == 1)
                sys.stdout.flush()

    iou_rows = []
    if 'rbox' in kinds and args.iou_gts:
        n_anchors, iou_rows = iou_benchmark([int(x) for x in args.iou_gts.split(',') if x], args.repeats)
        print(f'\nRBboxOverlaps2D vs SparseRBboxOverlaps2D, {n_anchors} rotated anchors (512 px, 9 a location)')
        print(f'{"G":>4} {"pairs":>8} {"dense s":>9} {"sparse s":>9} {"speedup":>8} {"nonzero":>8} same')
        for r in iou_rows:
            print(f'{r["g"]:>4} {r["pairs"]:>8} {r["t_ref"]:>9.4f} {r["t_ours"]:>9.4f} '
                  f'{r["t_ref"] / r["t_ours"]:>7.1f}x {r["nonzero"]:>8} {r["same"]}')
            summary[f'rbbox_iou_speedup_g{r["g"]}'] = round(r['t_ref'] / r['t_ours'], 1)
            identical &= r['same']
    summary['identical'] = bool(identical)
    print(json.dumps(summary))


def print_row(row, header=False):
    def fmt(x, spec):
        return format(x, spec) if x is not None else 'skipped'.rjust(len(format(1.0, spec)))
    if header:
        print(f'{"kind":<5} {"A":>1} {"P":>7} {"G":>5} {"ref s":>9} {"ours s":>8} {"speedup":>8} '
              f'{"ref +MB":>8} {"ours +MB":>8} {"pos":>6} identical')
    speed = f'{row["t_ref"] / row["t_ours"]:>7.1f}x' if row['t_ref'] is not None else '       -'
    print(f'{row["kind"]:<5} {row["anchors"]:>1} {row["P"]:>7} {row["G"]:>5} {fmt(row["t_ref"], "9.3f")} '
          f'{row["t_ours"]:>8.4f} {speed} {fmt(row["mem_ref"], "8.1f")} {fmt(row["mem_ours"], "8.1f")} '
          f'{row["pos"]:>6} {row["same"] if row["same"] is not None else "-"}')


if __name__ == '__main__':
    main()
