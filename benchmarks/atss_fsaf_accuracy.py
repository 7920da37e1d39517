"""Train the ATSS / FSAF configs on the embedded data to the demo's budget; report accuracy.

    .venv/bin/python benchmarks/atss_fsaf_accuracy.py [--only NAME[,NAME]] [--with-references]
        [--seed N] [--work-root work_dirs/bench_atss_fsaf]

Every run is the demo recipe (ResNet-18 + FPN from scratch, batch 8, AdamW 1e-3, 700
iterations, validation every 100; configs/demo/README.md). Runs, in this order:

  fsaf_retina     configs/fsaf/fsaf_retina_r18_fpn_shapes.py         full FSAF (ours)
  fsaf_ours       configs/fsaf/fsaf_r18_fpn_shapes.py                anchor-free FSAF, SparseFSAFAssigner
  fsaf_mmdet      configs/fsaf/fsaf_r18_fpn_shapes_mmdet.py          mmdet's FSAF (reference)
  atss_sparse     configs/atss/atss_r18_fpn_shapes.py                demo ATSS + SparseATSSAssigner
  rot_atss        configs/atss/rotated_atss_r18_fpn_shapes_rot.py    rotated ATSS + SparseATSSAssigner
  rot_retinanet   configs/atss/rotated_retinanet_r18_fpn_shapes_rot.py
  rot_retinanet_kld  configs/atss/rotated_retinanet_r18_fpn_kld_shapes_rot.py  mmrotate's KLD-stable recipe
  rot_retinanet_anchor2  configs/atss/rotated_retinanet_r18_fpn_anchor2_shapes_rot.py  anchors sized for shapes-rot

``--with-references`` also trains the references for the side-by-side table: the two demo configs
(mmdet's ATSS, mmrotate's rotated FCOS) and rotated ATSS with mmrotate's own assigner
(``rot_atss_mmrotate``, configs/atss/rotated_atss_r18_fpn_shapes_rot_mmrotate.py). Each finished run is appended to
``<work-root>/results.jsonl`` (so a long session keeps what it has), and the last line
printed is one JSON object: ``<name>_metric`` (final bbox mAP@0.5 on `shapes` val, DOTA
mAP@0.5 on `shapes-rot` val), ``<name>_best`` and ``<name>_minutes``. ``--seed N`` replaces the
configs' seed 0 (work dirs and records get ``_seed<N>``), to size run-to-run variance.
Two CPU cores: about 15-30 minutes a run.
"""
import argparse
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

RUNS = [
    ('fsaf_retina', 'configs/fsaf/fsaf_retina_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('fsaf_ours', 'configs/fsaf/fsaf_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('fsaf_mmdet', 'configs/fsaf/fsaf_r18_fpn_shapes_mmdet.py', 'coco/bbox_mAP_50'),
    ('atss_sparse', 'configs/atss/atss_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('rot_atss', 'configs/atss/rotated_atss_r18_fpn_shapes_rot.py', 'dota/mAP'),
    ('rot_retinanet', 'configs/atss/rotated_retinanet_r18_fpn_shapes_rot.py', 'dota/mAP'),
    ('rot_retinanet_kld', 'configs/atss/rotated_retinanet_r18_fpn_kld_shapes_rot.py', 'dota/mAP'),
    ('rot_retinanet_anchor2', 'configs/atss/rotated_retinanet_r18_fpn_anchor2_shapes_rot.py', 'dota/mAP'),
]
REFERENCES = [
    ('atss_mmdet', 'configs/demo/atss_r18_fpn_shapes.py', 'coco/bbox_mAP_50'),
    ('rot_fcos_demo', 'configs/demo/rotated_fcos_r18_fpn_shapes_rot.py', 'dota/mAP'),
    ('rot_atss_mmrotate', 'configs/atss/rotated_atss_r18_fpn_shapes_rot_mmrotate.py', 'dota/mAP'),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', help='comma-separated run names')
    parser.add_argument('--with-references', action='store_true', help='also train the two demo configs')
    parser.add_argument('--seed', type=int, help="instead of the configs' seed 0")
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs', 'bench_atss_fsaf'))
    args = parser.parse_args()
    from demo_accuracy import train_and_record  # the demo benchmark's runner: fresh work dir, timed
    runs = RUNS + (REFERENCES if args.with_references else [])
    if args.only:
        wanted = set(args.only.split(','))
        unknown = wanted - {name for name, _, _ in RUNS + REFERENCES}
        if unknown:
            parser.error(f'unknown run names {sorted(unknown)}')
        runs = [r for r in RUNS + REFERENCES if r[0] in wanted]
    os.makedirs(args.work_root, exist_ok=True)
    summary = {}
    for name, config, metric in runs:
        if args.seed is not None:
            name = f'{name}_seed{args.seed}'
        # CPU runs repeat bit for bit only with the same thread count: record it
        summary.update(train_and_record(name, config, metric, args.work_root, seed=args.seed,
                                        omp_num_threads=os.environ.get('OMP_NUM_THREADS')))
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
