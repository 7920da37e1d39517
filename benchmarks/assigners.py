"""Benchmark: reference assigners / IoU calculator vs ours, same inputs, same process.

ATSS (``--kinds hbox,rbox``): mmdet ATSSAssigner / mmrotate RotatedATSSAssigner vs
SparseATSSAssigner on a 1024 x 1024 image, strides 8..128, one anchor a location
(P = 21,824) and a 9-anchor case (3 ratios x 3 scales, P = 196,416); G random boxes of
8..128 px with float centres (no distance ties), horizontal and rotated (random angle).

FSAF (``--kinds fsaf``): mmdet's FSAF targets (CenterRegionAssigner(0.2, 0.2, 0.01), the
dense per-prior focal + IoU losses its selection reads, FSAFHead.collect_loss_level_single
and reweight_loss_single) vs SparseFSAFAssigner(mode='mmdet') (regions, pair losses,
selection), on FSAF's anchors (one stride-sized square a location, P = 21,824), 15
classes, random logits and predicted boxes. "Identical" compares the final positives and
the ignored (prior, class) pairs.

Per case it reports:

* time of the reference and of ours, measured in this process on the same inputs (ours:
  best of ``--repeats`` after a warm-up; the horizontal reference: best of up to
  ``--repeats``; the rotated reference: run once, and skipped above ``--max-rref-pairs``
  priors x GTs because mmcv's CPU box_iou_rotated costs ~1-2 us a pair);
* whether the outputs are identical (ATSS: ``gt_inds``, ``max_overlaps``, ``labels``);
* peak extra memory of one ``assign`` call in a fresh subprocess: the peak resident set
  (VmHWM, reset through /proc/self/clear_refs just before the call; ru_maxrss where that
  is not available) minus the resident set before the call.

Then mmrotate's RBboxOverlaps2D vs SparseRBboxOverlaps2D (``rbox_iou_*``) on two workloads:
``retinanet``, the rotated-RetinaNet training step of the issue (256 x 256 images, strides
4..64, 9 anchors a location = 49,104 anchors, a batch of 8 images holding 1, 2, ..., 8
elongated rotated objects of 12..96 px, as in `shapes-rot`), and ``g1000``, 1,000 rotated
objects on a 1024 x 1024 image against the P = 21,824 rotated priors.
``rbox_iou_speedup`` is the smaller of the two speed-ups.

The last line printed is one JSON object with the ratios (``<kind>_speedup_g<G>[_a9]``,
``<kind>_extra_mb_g<G>``, ``<kind>_ref_extra_mb_g<G>``, ``atss_hbox_speedup_g1000``,
``atss_hbox_mem_mb_g1000``, ``atss_rbox_speedup_g1000``, ``rbox_iou_speedup``,
``identical``, ...).

Threads: both sides run with ``--threads`` intra-op threads, 1 by default. On a shared
2-core machine where another process keeps a core busy, every parallel region of an op
on more than ~32k elements waits for a scheduler slot (~8 ms measured here), which
swamps an assigner made of many small ops (ours: 0.07 s -> 1.3 s at G=1000 rotated)
while barely showing on one made of a few huge ones. One thread measures the work; use
``--threads 0`` (torch's default) on an otherwise idle machine.

Usage: python benchmarks/assigners.py [--gts 10,100,1000] [--anchors 1,9] [--kinds hbox,rbox,fsaf]
       [--skip-rref] [--no-mem] [--no-iou] [--threads N]
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

from _rss import peak_rss_mib  # benchmarks/_rss.py: the script's folder is on sys.path

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


FSAF_CLASSES = 15


def make_fsaf_priors(img: int = 1024):
    """FSAF's anchors: one stride-sized square a location, strides 8..128 (P = 21,824)."""
    from mmdet.models.task_modules.prior_generators import AnchorGenerator
    gen = AnchorGenerator(strides=STRIDES, ratios=[1.0], octave_base_scale=1, scales_per_octave=1)
    levels = gen.grid_priors([(math.ceil(img / s), math.ceil(img / s)) for s in STRIDES], device='cpu')
    return torch.cat(levels), [lv.size(0) for lv in levels]


def make_case(kind: str, anchors: int, num_gt: int):
    """(pred_instances, num_level_priors, gt_instances), identical for reference and ours."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmengine.structures import InstanceData
    if kind == 'fsaf':
        priors, nlp = make_fsaf_priors()
        gts, labels = make_gts(num_gt, 'hbox')
        gen = torch.Generator().manual_seed(num_gt)
        scores = torch.randn(priors.size(0), FSAF_CLASSES, generator=gen) * 2 - 2
        preds = priors + torch.randn(priors.shape, generator=gen) * 4
        preds[:, 2:] = torch.maximum(preds[:, 2:], preds[:, :2] + 0.5)
        return InstanceData(priors=priors, scores=scores, bboxes=preds), nlp, InstanceData(bboxes=gts, labels=labels)
    priors, nlp = make_priors(anchors)
    gts, labels = make_gts(num_gt, kind)
    if kind == 'rbox':
        from mmrotate.structures.bbox import RotatedBoxes
        priors, gts = HorizontalBoxes(priors).convert_to('rbox'), RotatedBoxes(gts)
    return InstanceData(priors=priors), nlp, InstanceData(bboxes=gts, labels=labels)


class FSAFReference:
    """mmdet's FSAF targets for one image: CenterRegionAssigner, the dense per-prior losses
    that FSAFHead's selection reads, then its collect_loss_level_single / reweight_loss_single."""

    def __init__(self):
        from mmdet.models.dense_heads import FSAFHead
        from mmdet.models.task_modules.assigners import CenterRegionAssigner
        self.assigner = CenterRegionAssigner(pos_scale=0.2, neg_scale=0.2, min_pos_iof=0.01)
        self.head = FSAFHead(
            num_classes=FSAF_CLASSES, in_channels=8, stacked_convs=0, feat_channels=8, reg_decoded_bbox=True,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=1, scales_per_octave=1, ratios=[1.0],
                                  strides=STRIDES),
            bbox_coder=dict(type='TBLRBBoxCoder', normalizer=4.0),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0,
                          reduction='none'),
            loss_bbox=dict(type='IoULoss', eps=1e-6, loss_weight=1.0, reduction='none'))

    def assign(self, pred_instances, num_level_priors, gt_instances):
        from mmengine.structures import InstanceData
        res = self.assigner.assign(InstanceData(priors=pred_instances.priors), gt_instances)
        scores, preds = pred_instances.scores, pred_instances.bboxes
        P, C = scores.shape
        G = gt_instances.bboxes.size(0)
        pos = res.gt_inds > 0
        labels = torch.full((P, ), C, dtype=torch.long)
        labels[pos] = res.labels[pos]
        weights = scores.new_ones((P, C))
        weights[res.gt_inds < 0] = 0
        shadowed = res.get_extra_property('shadowed_labels')
        if shadowed.numel():
            weights[shadowed[:, 0], shadowed[:, 1]] = 0
        targets, box_weights = torch.zeros_like(preds), torch.zeros_like(preds)
        targets[pos] = gt_instances.bboxes[res.gt_inds[pos] - 1]
        box_weights[pos] = 1
        cls_loss = self.head.loss_cls(scores, labels, weights)
        reg_loss = self.head.loss_bbox(preds, targets, box_weights)
        assigned = torch.where(pos, res.gt_inds - 1, torch.full_like(res.gt_inds, -1))
        seq = torch.arange(G)
        parts = [x.split(num_level_priors) for x in (cls_loss, reg_loss, assigned, labels)]
        level_losses = torch.stack([self.head.collect_loss_level_single(c, r, a, labels_seq=seq)[0]
                                    for c, r, a, _ in zip(*parts)])
        argmin = level_losses.min(dim=0)[1] if level_losses.numel() else torch.zeros(G, dtype=torch.long)
        gt_inds = torch.zeros(P, dtype=torch.long)
        gt_inds[res.gt_inds < 0] = -1
        ignored = weights == 0
        start = 0
        for lvl, (c, r, a, lab) in enumerate(zip(*parts)):
            before = a >= 0
            after = self.head.reweight_loss_single(c, r, a.clone(), lab, lvl, min_levels=argmin)[2]
            idx = torch.arange(start, start + a.numel())
            gt_inds[idx[after]] = a[after] + 1
            demoted = idx[before & ~after]
            ignored[demoted, labels[demoted]] = True
            start += a.numel()
        return FSAFTargets(gt_inds, ignored)


class FSAFTargets:
    """Final FSAF targets to compare: gt_inds (P,) and ignored (P, C) class weights."""

    def __init__(self, gt_inds, ignored):
        self.gt_inds, self.ignored = gt_inds, ignored

    @classmethod
    def from_ours(cls, result, num_classes):
        ignored = torch.zeros((result.gt_inds.numel(), num_classes), dtype=torch.bool)
        shadowed = result.get_extra_property('shadowed_labels')
        ignored[shadowed[:, 0], shadowed[:, 1]] = True
        ignored[result.gt_inds < 0] = True
        return cls(result.gt_inds, ignored)


def make_assigner(impl: str, kind: str):
    import mmdet_ext  # noqa: F401  (registers)
    from mmdet_ext.models.task_modules.assigners import SparseATSSAssigner, SparseFSAFAssigner
    if kind == 'fsaf':
        return FSAFReference() if impl == 'ref' else SparseFSAFAssigner(mode='mmdet')
    if impl == 'ref':
        if kind == 'hbox':
            from mmdet.models.task_modules.assigners import ATSSAssigner
            return ATSSAssigner(topk=9)
        from mmrotate.models.task_modules.assigners import RotatedATSSAssigner
        return RotatedATSSAssigner(topk=9, iou_calculator=dict(type='RBboxOverlaps2D'))
    calc = dict(type='BboxOverlaps2D') if kind == 'hbox' else dict(type='SparseRBboxOverlaps2D')
    return SparseATSSAssigner(topk=9, iou_calculator=calc)


# --------------------------------------------------------------------------- memory
def child_memory(impl: str, kind: str, anchors: int, num_gt: int) -> dict:
    """Run one assign in this (fresh) process; return its peak extra memory in MB."""
    warnings.filterwarnings('ignore')
    assigner = make_assigner(impl, kind)
    pi, nlp, gi = make_case(kind, anchors, num_gt)
    # warm-up on 2 GTs so that lazy imports / first-call allocations are not counted
    small = gi[:2]
    assigner.assign(pi, nlp, small)
    try:
        t = time.perf_counter()
        extra_kb = 1024 * peak_rss_mib(lambda: assigner.assign(pi, nlp, gi))
        seconds = time.perf_counter() - t
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
    if isinstance(a, FSAFTargets):
        b = FSAFTargets.from_ours(b, a.ignored.size(1))
        return torch.equal(a.gt_inds, b.gt_inds) and torch.equal(a.ignored, b.ignored)
    return (a.num_gts == b.num_gts and torch.equal(a.gt_inds, b.gt_inds) and torch.equal(a.labels, b.labels)
            and torch.equal(a.max_overlaps, b.max_overlaps))


def retinanet_iou_workload():
    """The issue's rotated-RetinaNet step: 49,104 rotated anchors of a 256 x 256 image
    (strides 4..64, 3 scales x 3 ratios) and a batch of 8 images with 1..8 objects each
    (long side 12..96 px, aspect 1..4, any angle, as `shapes-rot`)."""
    import mmrotate.structures  # noqa: F401  (registers the 'rbox' box type)
    from mmdet.models.task_modules.prior_generators import AnchorGenerator
    from mmdet.structures.bbox import HorizontalBoxes
    strides = [4, 8, 16, 32, 64]
    gen = AnchorGenerator(strides=strides, ratios=[1.0, 0.5, 2.0], octave_base_scale=4, scales_per_octave=3)
    levels = gen.grid_priors([(math.ceil(256 / s), math.ceil(256 / s)) for s in strides], device='cpu')
    anchors = HorizontalBoxes(torch.cat(levels)).convert_to('rbox').tensor
    rng = torch.Generator().manual_seed(3)
    batch = []
    for n in range(1, 9):
        ctr = torch.rand(n, 2, generator=rng) * 256
        long_side = 12 + torch.rand(n, 1, generator=rng) * 84
        aspect = 1 + torch.rand(n, 1, generator=rng) * 3
        angle = (torch.rand(n, 1, generator=rng) - 0.5) * math.pi
        batch.append(torch.cat([ctr, long_side, long_side / aspect, angle], dim=1))
    return anchors, batch


def iou_benchmark(repeats):
    """RBboxOverlaps2D vs SparseRBboxOverlaps2D on the two workloads (see the module doc)."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmrotate.models.task_modules.assigners import RBboxOverlaps2D

    import mmdet_ext  # noqa: F401
    from mmdet_ext.models.task_modules.assigners import SparseRBboxOverlaps2D
    ref_calc, ours_calc = RBboxOverlaps2D(), SparseRBboxOverlaps2D()
    rows = []
    anchors, batch = retinanet_iou_workload()
    # image by image, reference and ours alternately, best of each: a busy shared CPU slows
    # whole seconds at a time, which would otherwise decide the ratio
    t_ref = t_ours = 0.0
    same, nonzero = True, 0
    for g in batch:
        best_ref = best_ours = float('inf')
        for _ in range(max(3, repeats)):
            t = time.perf_counter()
            ref = ref_calc(anchors, g)
            best_ref = min(best_ref, time.perf_counter() - t)
            t = time.perf_counter()
            ours = ours_calc(anchors, g)
            best_ours = min(best_ours, time.perf_counter() - t)
        t_ref, t_ours = t_ref + best_ref, t_ours + best_ours
        same &= torch.equal(ref, ours)
        nonzero += int((ours != 0).sum())
    num_gts = sum(g.size(0) for g in batch)
    rows.append(dict(name='retinanet', P=anchors.size(0), G=num_gts, pairs=anchors.size(0) * num_gts, t_ref=t_ref,
                     t_ours=t_ours, same=same, nonzero=nonzero))
    priors, _ = make_priors(1)
    rpriors = HorizontalBoxes(priors).convert_to('rbox').tensor
    gts, _ = make_gts(1000, 'rbox', seed=1)
    t_ref, ref = time_call(lambda: ref_calc(rpriors, gts), 1, warmup=False)  # slow: once
    t_ours, ours = time_call(lambda: ours_calc(rpriors, gts), repeats, budget_s=5.0)
    rows.append(dict(name='g1000', P=rpriors.size(0), G=1000, pairs=rpriors.size(0) * 1000, t_ref=t_ref,
                     t_ours=t_ours, same=torch.equal(ref, ours), nonzero=int((ours != 0).sum())))
    return rows


# --------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gts', default='10,100,1000,3000', help='comma-separated G values')
    parser.add_argument('--anchors', default='1,9', help='anchors per location: 1 and/or 9')
    parser.add_argument('--kinds', default='hbox,rbox,fsaf')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--max-href-pairs', type=float, default=1.0e8,
                        help='skip the horizontal reference above this many priors x GTs (memory)')
    parser.add_argument('--max-rref-pairs', type=float, default=2.5e7,
                        help='skip the rotated reference above this many priors x GTs (time)')
    parser.add_argument('--max-rref-mem-pairs', type=float, default=2.5e6,
                        help='measure the rotated reference memory (a second run) only up to this')
    parser.add_argument('--skip-rref', action='store_true', help='never run the rotated reference')
    parser.add_argument('--no-mem', action='store_true', help='skip the memory subprocesses')
    parser.add_argument('--no-iou', action='store_true', help='skip the IoU calculator benchmark')
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
            if kind == 'fsaf' and anchors != 1:
                continue  # FSAF's anchor-free branch has one prior a location
            for g in gts:
                pi, nlp, gi = make_case(kind, anchors, g)
                p = pi.priors.size(0) if hasattr(pi.priors, 'size') else len(pi.priors)
                ref_cap = args.max_rref_pairs if kind == 'rbox' else args.max_href_pairs
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
                    mem_cap = args.max_rref_mem_pairs if kind == 'rbox' else ref_cap
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

    if not args.no_iou:
        iou_rows = iou_benchmark(args.repeats)
        print('\nRBboxOverlaps2D vs SparseRBboxOverlaps2D')
        print(f'{"workload":<10} {"P":>6} {"G":>5} {"pairs":>9} {"dense s":>9} {"sparse s":>9} {"speedup":>8} '
              f'{"nonzero":>8} same')
        for r in iou_rows:
            print(f'{r["name"]:<10} {r["P"]:>6} {r["G"]:>5} {r["pairs"]:>9} {r["t_ref"]:>9.4f} {r["t_ours"]:>9.4f} '
                  f'{r["t_ref"] / r["t_ours"]:>7.1f}x {r["nonzero"]:>8} {r["same"]}')
            summary[f'rbox_iou_speedup_{r["name"]}'] = round(r['t_ref'] / r['t_ours'], 1)
            identical &= r['same']
        summary['rbox_iou_speedup'] = min(summary[f'rbox_iou_speedup_{r["name"]}'] for r in iou_rows)
    # the issue's headline keys
    for key, src in (('atss_hbox_speedup_g1000', 'hbox_speedup_g1000'), ('atss_hbox_mem_mb_g1000', 'hbox_extra_mb_g1000'),
                     ('atss_rbox_speedup_g1000', 'rbox_speedup_g1000'), ('atss_rbox_mem_mb_g1000', 'rbox_extra_mb_g1000')):
        if src in summary:
            summary[key] = summary[src]
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
