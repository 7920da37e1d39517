"""The `shapes-fog` protocol of source-free adaptation (specs/shapes.md gates G0-G3).

    .venv/bin/python benchmarks/sfod.py [--seeds 0 1 2] [--rows mt mt_lpld] [--source-ckpt PATH]
        [--adapt-iters N] [--work-root work_dirs/bench_sfod] [--cfg-options KEY=VALUE ...]
    .venv/bin/python benchmarks/sfod.py --summary     # gates over every run recorded so far

1. Source: Faster R-CNN R-18 trained on labelled source images
   (configs/sfod/faster-rcnn_r18_fpn_shapes-fog-source.py, seed 0; reused from the work root or
   --source-ckpt when present), scored on source test (`src_on_src`) and target test (`src_on_tgt`).
2. For every seed and row, adaptation from that checkpoint on unlabelled target train images;
   the last teacher is scored on target test (never the best epoch: that would select on test).
   Rows: `mt` (plain mean teacher), `mt_lpld` (+ LPLD), `mt_wscol` (+ WSCoL), `mt_wscol_lpld`
   (+ WSCoL + LPLD).
3. LPLD's mechanism (G3), with the last LPLD teacher of the first seed on target train images
   (their labels are read here for diagnostics only, never in training): class-aware recall at
   IoU 0.5 of HPL alone vs HPL + mined LPL, and the class precision of mined labels that overlap
   an object (IoU >= 0.5) against chance (1 / classes).
4. WSCoL's mechanism (G3), with the last WSCoL teacher of the first seed (past its first epoch,
   so the clustering is prototype-guided only) on the same target train images: on proposals
   that overlap an object (IoU >= 0.5), the accuracy of WSCoL's cluster labels vs the teacher's
   argmax labels (all such proposals, and those not forced by an HPL).

Metric: VOC area-based AP50 (MMDetection's VOCMetric, eval_mode='area'), in points (0-100).
Each finished run is appended to ``<work-root>/results.jsonl``. The last line printed is one JSON
object: ``src_on_src``, ``src_on_tgt``, ``mt``, ``mt_lpld`` (means over seeds), ``per_seed``,
``lpld_mechanism``, ``wscol_mechanism`` and ``gates`` (G0, G1, G2_lpld, G3_lpld, G2_wscol,
G3_wscol).

NSA (unsupervised DA, its own block: it also trains on labelled source images, so it is not
source-free): rows `uda_baseline` (teacher-student with source labels and target pseudo labels)
and `nsa` (configs/nsa/), both starting from the same source checkpoint (the burn-in stage) with
the same two-source loader. Gates: G2_nsa (nsa mean >= uda_baseline mean + 1) and G3_nsa (NSA's
internal-consistency MSE, logged as `nsa_internal_mse`, is lower over the last 20 % of training
iterations than over the first 20 %, in every seed; recorded as the `nsa_internal_mse` row).
One-variable ablations, run only when named in ``--rows`` (no gate): `nsa_spec_factor` (NSA's
consistency losses with the spec's factor 0.1 instead of the shapes config's 0.01), and from that
one `nsa_no_geometric` (the heavy view without its geometric change) and `nsa_no_pull` (no student
pull in stage 2); `mt_wscol_own_recipe` (WSCoL with its own pseudo-label threshold 0.9 and EMA
rate 0.9 instead of the mean teacher's 0.7 / 0.75, which the shapes WSCoL configs share).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

SOURCE_CFG = 'configs/sfod/faster-rcnn_r18_fpn_shapes-fog-source.py'
ROWS = {'mt': 'configs/sfod/mean-teacher_faster-rcnn_r18_fpn_shapes-fog.py',
        'mt_lpld': 'configs/sfod/lpld_faster-rcnn_r18_fpn_shapes-fog.py',
        'mt_wscol': 'configs/sfod/wscol_faster-rcnn_r18_fpn_shapes-fog.py',
        'mt_wscol_lpld': 'configs/sfod/wscol-lpld_faster-rcnn_r18_fpn_shapes-fog.py'}
# NSA: unsupervised DA (labelled source + unlabelled target), reported in its own block.
ROWS.update(uda_baseline='configs/nsa/uda-baseline_faster-rcnn_r18_fpn_shapes-fog.py',
            nsa='configs/nsa/nsa_faster-rcnn_r18_fpn_shapes-fog.py')
# one-variable ablations: reported, no gate, run only when asked for with --rows
ABLATIONS = dict(nsa_spec_factor='configs/nsa/ablations/nsa-spec-factor_faster-rcnn_r18_fpn_shapes-fog.py',
                 nsa_no_geometric='configs/nsa/ablations/nsa-no-geometric_faster-rcnn_r18_fpn_shapes-fog.py',
                 nsa_no_pull='configs/nsa/ablations/nsa-no-pull_faster-rcnn_r18_fpn_shapes-fog.py',
                 mt_wscol_own_recipe='configs/sfod/ablations/wscol-own-recipe_faster-rcnn_r18_fpn_shapes-fog.py')
PROTOCOL_ROWS = list(ROWS)
ROWS.update(ABLATIONS)
SOURCE_TEST = ["test_dataloader.dataset.ann_file=source/annotations/instances_test.json",
               "test_dataloader.dataset.data_prefix.img=source/test/",
               "test_evaluator.1.ann_file=data/shapes_fog/source/annotations/instances_test.json"]
AP50 = re.compile(r'pascal_voc/AP50: ([0-9.]+)')


def run(args, log_path):
    """Run a tool with this interpreter; keep its output in ``log_path``; return the output."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    with open(log_path, 'w') as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f'{args[:2]} failed ({proc.returncode}); see {log_path}:\n{proc.stderr[-3000:]}')
    return proc.stdout + proc.stderr


def last_ap50(output: str) -> float:
    found = AP50.findall(output)
    if not found:
        raise RuntimeError('no pascal_voc/AP50 in the output')
    return round(100 * float(found[-1]), 2)


def train(config, work_dir, options):
    os.makedirs(work_dir, exist_ok=True)
    start = time.perf_counter()
    out = run(['tools/train.py', config, '--work-dir', work_dir, '--cfg-options', *options],
              osp.join(work_dir, 'run.out'))
    return last_ap50(out), (time.perf_counter() - start) / 60


def test(config, ckpt, work_dir, options):
    os.makedirs(work_dir, exist_ok=True)
    out = run(['tools/test.py', config, ckpt, '--work-dir', work_dir, *(['--cfg-options', *options] if options else [])],
              osp.join(work_dir, 'test.out'))
    return last_ap50(out)


def latest_ckpt(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def teacher_batches(config, ckpt, module_type, num_images=120, batch_size=8):
    """Yield (model, module, samples, teacher pass, HPL) over target-train images with their labels.

    The last teacher of ``ckpt`` on the first ``num_images`` target-train images, loaded with the
    test pipeline (LoadAnnotations: diagnostics only, never in training); ``module`` is the
    adaptation module of type ``module_type``.
    """
    import torch
    from mmdet.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import load_checkpoint

    import mmdet_ext  # noqa: F401

    init_default_scope('mmdet')
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, ckpt, map_location='cpu', logger='silent')
    model.eval()
    module = [m for m in model.adaptations if type(m).__name__ == module_type][0]
    dataset_cfg = cfg.target_train.copy()
    dataset_cfg.pipeline = cfg.test_pipeline
    dataset_cfg.indices = num_images
    dataset = DATASETS.build(dataset_cfg)
    preprocess = model.data_preprocessor.data_preprocessor
    for start in range(0, len(dataset), batch_size):
        data = preprocess(pseudo_collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]),
                          False)
        with torch.no_grad():
            out = model.teacher_pass(data['inputs'], data['data_samples'])
        yield model, module, data['data_samples'], out, [model._high_confidence(d) for d in out['detections']]


def lpld_mechanism(config, ckpt, num_images=120, iou=0.5):
    """Recall of HPL vs HPL + LPL and the class precision of LPL on target train (diagnostics)."""
    import torch
    from mmdet.structures.bbox import bbox_overlaps

    from mmdet_ext.models.detectors.adaptation_context import AdaptationContext

    found_hpl = found_both = total = lpl_on_object = lpl_right_class = num_lpl = 0
    best_ious, bg_probs = [], []  # per LPL: best IoU with an object, teacher's background probability
    images = 0
    for model, lpld, samples, out, hpl in teacher_batches(config, ckpt, 'LPLDLoss', num_images):
        images += len(samples)
        with torch.no_grad():
            context = AdaptationContext(
                student=model.teacher, teacher=model.teacher, teacher_feats=out['feats'],
                student_feats=out['feats'], teacher_samples=samples, student_samples=samples,
                proposals=out['proposals'], detections=out['detections'], pseudo_labels=hpl,
                num_classes=model.num_classes)
            mined = lpld.mine(context)
        bg_probs.append(torch.softmax(mined['logits'], dim=1)[:, -1])
        for i, sample in enumerate(samples):
            gt = sample.gt_instances
            total += len(gt)
            in_image = mined['rois'][:, 0] == i
            lpl_boxes, lpl_labels = mined['boxes'][in_image], mined['labels'][in_image]
            hit_hpl = _class_hits(gt, hpl[i].bboxes, hpl[i].labels, iou, bbox_overlaps)
            hit_lpl = _class_hits(gt, lpl_boxes, lpl_labels, iou, bbox_overlaps)
            found_hpl += int(hit_hpl.sum())
            found_both += int((hit_hpl | hit_lpl).sum())
            num_lpl += len(lpl_boxes)
            if len(lpl_boxes) and not len(gt):
                best_ious.append(lpl_boxes.new_zeros(len(lpl_boxes)))
            elif len(lpl_boxes):
                overlaps = bbox_overlaps(lpl_boxes, gt.bboxes)
                best, index = overlaps.max(dim=1)
                best_ious.append(best)
                on_object = best >= iou
                lpl_on_object += int(on_object.sum())
                lpl_right_class += int((lpl_labels[on_object] == gt.labels[index[on_object]]).sum())
    return dict(images=images, objects=total, recall_hpl=round(found_hpl / max(total, 1), 4),
                recall_hpl_lpl=round(found_both / max(total, 1), 4), lpl_per_image=round(num_lpl / max(images, 1), 2),
                lpl_on_object=lpl_on_object,
                lpl_class_precision=round(lpl_right_class / max(lpl_on_object, 1), 4),
                chance=round(1 / model.num_classes, 4),
                lpl_best_iou_hist=_fractions(best_ious, (0., 0.1, 0.3, 0.5, 1.01)),
                lpl_teacher_bg_prob_hist=_fractions(bg_probs, (0., 0.5, 0.9, 0.99, 1.01)))


def _fractions(chunks, edges) -> dict:
    """Fraction of the values in each [edges[i], edges[i+1]) bin, keyed 'lo-hi'."""
    import torch
    values = torch.cat(chunks) if chunks else torch.zeros(0)
    return {f'{lo:g}-{min(hi, 1):g}': round(float(((values >= lo) & (values < hi)).float().mean()) if len(values) else 0., 3)
            for lo, hi in zip(edges[:-1], edges[1:])}


def wscol_mechanism(config, ckpt, num_images=120, iou=0.5):
    """Accuracy of WSCoL's cluster labels vs the teacher's argmax on target train proposals that
    overlap an object (diagnostics: the labels are read here only, never in training)."""
    import torch
    from mmdet.structures.bbox import bbox2roi, bbox_overlaps

    from mmdet_ext.models.losses.wscol_loss import roi_head_inputs

    on_object = cluster_right = teacher_right = free = free_cluster_right = free_teacher_right = 0
    images = 0
    for model, wscol, samples, out, hpl in teacher_batches(config, ckpt, 'WSCoLLoss', num_images):
        images += len(samples)
        with torch.no_grad():
            rois = bbox2roi([p.bboxes[:wscol.num_proposals] for p in out['proposals']])
            if rois.shape[0] == 0:
                continue
            logits, maps, vectors = roi_head_inputs(model.teacher, out['feats'], rois)
            # After the first epoch (rho = 1): prototype-guided clustering only.
            cluster = wscol.cluster(wscol.mapping(maps), vectors, logits, rois, hpl, rho=1.)
            teacher = logits.argmax(dim=1)
        for i, sample in enumerate(samples):
            gt = sample.gt_instances
            in_image = rois[:, 0] == i
            if len(gt) == 0 or not in_image.any():
                continue
            best, index = bbox_overlaps(rois[in_image, 1:], gt.bboxes).max(dim=1)
            hit = best >= iou
            truth = gt.labels[index[hit]]
            c, t = cluster[in_image][hit], teacher[in_image][hit]
            on_object += int(hit.sum())
            cluster_right += int((c == truth).sum())
            teacher_right += int((t == truth).sum())
            if len(hpl[i]):
                forced = bbox_overlaps(rois[in_image, 1:][hit], hpl[i].bboxes).max(dim=1).values >= wscol.hpl_iou_thr
            else:
                forced = torch.zeros(int(hit.sum()), dtype=torch.bool)
            free += int((~forced).sum())
            free_cluster_right += int((c[~forced] == truth[~forced]).sum())
            free_teacher_right += int((t[~forced] == truth[~forced]).sum())
    return dict(images=images, proposals_on_object=on_object,
                cluster_acc=round(cluster_right / max(on_object, 1), 4),
                teacher_argmax_acc=round(teacher_right / max(on_object, 1), 4),
                unforced=free, unforced_cluster_acc=round(free_cluster_right / max(free, 1), 4),
                unforced_teacher_argmax_acc=round(free_teacher_right / max(free, 1), 4),
                prototypes=int(wscol.prototype_initialized.sum()))


def _class_hits(gt, boxes, labels, iou, bbox_overlaps):
    import torch
    if len(gt) == 0 or len(boxes) == 0:
        return torch.zeros(len(gt), dtype=torch.bool)
    overlaps = bbox_overlaps(gt.bboxes, boxes)
    same = gt.labels[:, None] == labels[None, :]
    return ((overlaps >= iou) & same).any(dim=1)


def nsa_internal_mse_trend(work_dir, fraction=0.2):
    """Mean ``nsa_internal_mse`` over the first and the last ``fraction`` of the logged training
    iterations of a run (MMEngine's ``vis_data/scalars.json``); None when nothing was logged."""
    import glob
    found = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not found:
        return None
    with open(found[-1]) as f:
        values = [row['nsa_internal_mse'] for row in map(json.loads, f) if 'nsa_internal_mse' in row]
    if not values:
        return None
    k = max(1, int(len(values) * fraction))
    return dict(first=round(sum(values[:k]) / k, 4), last=round(sum(values[-k:]) / k, 4), points=len(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--rows', nargs='+', default=PROTOCOL_ROWS, choices=list(ROWS))
    parser.add_argument('--source-ckpt', help='a source checkpoint to reuse instead of training one')
    parser.add_argument('--source-iters', type=int, help='override the source schedule (smoke runs)')
    parser.add_argument('--adapt-iters', type=int, help='override the adaptation schedule (smoke runs)')
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'bench_sfod'))
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='recipe ablations: override these in every adaptation run (as in '
                        'tools/train.py); use another --work-root so the gates do not mix recipes')
    parser.add_argument('--summary', action='store_true',
                        help='train nothing: print the summary of every run in <work-root>/results.jsonl')
    args = parser.parse_args()
    os.makedirs(args.work_root, exist_ok=True)
    results_path = osp.join(args.work_root, 'results.jsonl')
    if args.summary:
        print(json.dumps(summary_from_results(results_path)))
        return

    def record(row):
        print(json.dumps(row), flush=True)
        with open(results_path, 'a') as f:
            f.write(json.dumps(row) + '\n')

    source_dir = osp.join(args.work_root, 'source')
    ckpt = args.source_ckpt
    if ckpt is None and osp.exists(osp.join(source_dir, 'last_checkpoint')) and args.source_iters is None:
        ckpt = latest_ckpt(source_dir)
    if ckpt is None:
        options = ['randomness.seed=0']
        if args.source_iters:
            n = args.source_iters
            options += [f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
                        f'param_scheduler.0.end={max(1, n // 7)}', f'param_scheduler.1.begin={max(1, n // 7)}',
                        f'param_scheduler.1.end={n}', f'default_hooks.checkpoint.interval={n}']
        src_tgt, minutes = train(SOURCE_CFG, source_dir, options)
        ckpt = latest_ckpt(source_dir)
        record(dict(row='source_train', ckpt=ckpt, target_ap50=src_tgt, minutes=round(minutes, 2)))
    src_on_src = test(SOURCE_CFG, ckpt, osp.join(args.work_root, 'source_test_src'), SOURCE_TEST)
    src_on_tgt = test(SOURCE_CFG, ckpt, osp.join(args.work_root, 'source_test_tgt'), [])
    record(dict(row='source', ckpt=ckpt, src_on_src=src_on_src, src_on_tgt=src_on_tgt))

    per_seed = {row: {} for row in args.rows}
    lpld_dir = wscol_dir = None
    for seed in args.seeds:
        for row in args.rows:
            work_dir = osp.join(args.work_root, f'{row}_seed{seed}')
            options = [f'load_from={ckpt}', f'randomness.seed={seed}', *args.cfg_options]
            if args.adapt_iters:
                n = args.adapt_iters
                options += [f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
                            f'default_hooks.checkpoint.interval={n}']
            ap50, minutes = train(ROWS[row], work_dir, options)
            per_seed[row][seed] = ap50
            record(dict(row=row, seed=seed, target_ap50=ap50, minutes=round(minutes, 2),
                        **({'cfg_options': args.cfg_options} if args.cfg_options else {})))
            if row == 'mt_lpld' and lpld_dir is None:
                lpld_dir = work_dir
            # WSCoL's mechanism from WSCoL alone when it ran, else from WSCoL + LPLD.
            if row == 'mt_wscol' or (row == 'mt_wscol_lpld' and 'mt_wscol' not in args.rows):
                wscol_dir = wscol_dir or (work_dir, ROWS[row])

    mechanism = lpld_mechanism(ROWS['mt_lpld'], latest_ckpt(lpld_dir)) if lpld_dir else None
    if mechanism:
        record(dict(row='lpld_mechanism', **mechanism))
    wscol_mech = wscol_mechanism(wscol_dir[1], latest_ckpt(wscol_dir[0])) if wscol_dir else None
    if wscol_mech:
        record(dict(row='wscol_mechanism', **wscol_mech))
    nsa_mse = {seed: nsa_internal_mse_trend(osp.join(args.work_root, f'nsa_seed{seed}'))
               for seed in per_seed.get('nsa', {})}
    if nsa_mse and all(nsa_mse.values()):
        record(dict(row='nsa_internal_mse', **{str(seed): v for seed, v in nsa_mse.items()}))
    print(json.dumps(summarize(src_on_src, src_on_tgt, per_seed, mechanism, wscol_mech, nsa_mse)))


def summarize(src_on_src, src_on_tgt, per_seed, mechanism=None, wscol_mech=None, nsa_mse=None) -> dict:
    """Means over seeds and the gates (specs/shapes.md) from per-row, per-seed target AP50."""
    per_seed = {row: v for row, v in per_seed.items() if v}
    means = {row: round(sum(v.values()) / len(v), 2) for row, v in per_seed.items()}
    gates = dict(G0=src_on_src - src_on_tgt >= 15)
    if 'mt' in per_seed:
        gates['G1'] = sum(ap > src_on_tgt + 2 for ap in per_seed['mt'].values()) >= min(2, len(per_seed['mt']))
    if 'mt' in means and 'mt_lpld' in means:
        gates['G2_lpld'] = means['mt_lpld'] >= means['mt'] + 1
    if 'mt' in means and 'mt_wscol' in means:
        gates['G2_wscol'] = means['mt_wscol'] >= means['mt'] + 1
    if wscol_mech:
        gates['G3_wscol'] = wscol_mech['cluster_acc'] > wscol_mech['teacher_argmax_acc']
    if mechanism:
        gates['G3_lpld'] = (mechanism['recall_hpl_lpl'] > mechanism['recall_hpl']
                            and mechanism['lpl_class_precision'] >= 2 * mechanism['chance'])
    if 'uda_baseline' in means and 'nsa' in means:
        gates['G2_nsa'] = means['nsa'] >= means['uda_baseline'] + 1
    if nsa_mse and all(nsa_mse.values()):
        gates['G3_nsa'] = all(v['last'] < v['first'] for v in nsa_mse.values())
    seeds = sorted({s for v in per_seed.values() for s in v})
    return dict(src_on_src=src_on_src, src_on_tgt=src_on_tgt, **means, seeds=seeds,
                per_seed={r: {str(s): v for s, v in sorted(d.items())} for r, d in per_seed.items()},
                lpld_mechanism=mechanism, wscol_mechanism=wscol_mech, gates=gates)


def summary_from_results(results_path: str) -> dict:
    """The summary over every run recorded in ``results.jsonl`` (the latest record of each row and
    seed), so a protocol run in pieces (one seed a session) still gets its gates."""
    source, per_seed, found, recipes = None, {}, {}, {}
    with open(results_path) as f:
        for line in f:
            rec = json.loads(line)
            if rec['row'] == 'source':
                source = rec
            elif rec['row'] in ROWS:
                per_seed.setdefault(rec['row'], {})[rec['seed']] = rec['target_ap50']
                recipes.setdefault(tuple(rec.get('cfg_options', ())), []).append(f"{rec['row']} seed {rec['seed']}")
            elif rec['row'] == 'nsa_internal_mse':  # one entry per seed, seeds over several runs
                found.setdefault(rec['row'], {}).update({k: v for k, v in rec.items() if k != 'row'})
            elif rec['row'] in ('lpld_mechanism', 'wscol_mechanism'):
                found[rec['row']] = {k: v for k, v in rec.items() if k != 'row'}
    if source is None:
        raise RuntimeError(f'{results_path} has no source row: run the protocol first')
    if len(recipes) > 1:  # gates compare rows: all of them must have run the same recipe
        raise ValueError(f'{results_path} mixes recipes (--cfg-options): '
                         + '; '.join(f'{list(k) or "none"}: {v[:3]}' for k, v in recipes.items())
                         + ' -- keep each recipe in its own --work-root')
    nsa_mse = {int(k): v for k, v in found.get('nsa_internal_mse', {}).items()}
    return summarize(source['src_on_src'], source['src_on_tgt'], per_seed, found.get('lpld_mechanism'),
                     found.get('wscol_mechanism'), nsa_mse)

if __name__ == '__main__':
    main()
