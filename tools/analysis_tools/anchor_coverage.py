"""How well a config's anchors cover its training objects, before any training.

    .venv/bin/python tools/analysis_tools/anchor_coverage.py CONFIG [--num-images 300]
        [--cfg-options model.bbox_head.anchor_generator.octave_base_scale=2 ...]

For the first ``--num-images`` images of the config's training set (through its training
pipeline, so box conversions such as qbox -> rbox apply; its random transforms seeded with 0), the anchors of
``model.bbox_head.anchor_generator`` on the padded image are scored against each object with
the assigner's IoU calculator (``model.train_cfg.assigner.iou_calculator``; horizontal or
rotated). Printed: the mean best IoU of an object, the fraction of objects whose best anchor
reaches the assigner's ``pos_iou_thr`` (the others become positives only through
``min_pos_iou``, as low-quality matches) and 0.4, and the mean number of anchors at or above
``pos_iou_thr`` per object. The last line is one JSON object with those figures.

Why: a detector whose anchors are sized for another dataset (mmrotate's DOTA anchors on small
objects) learns from a few low-quality matches; this shows it in seconds instead of a training run.
"""
import argparse
import json
import math
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import DATASETS, TASK_UTILS, init_default_scope  # noqa: E402
from mmengine.runner import set_random_seed  # noqa: E402

import mmdet_ext  # noqa: E402,F401  (registers components)


def coverage(best_iou: torch.Tensor, num_pos: torch.Tensor, pos_iou_thr: float) -> dict:
    """Summary figures from per-object best IoU (G,) and positives per object (G,)."""
    if best_iou.numel() == 0:
        raise ValueError('no objects in the images read: nothing to measure')
    return dict(objects=int(best_iou.numel()), mean_best_iou=round(best_iou.mean().item(), 4),
                pos_iou_thr=pos_iou_thr,
                frac_best_ge_pos_thr=round((best_iou >= pos_iou_thr).float().mean().item(), 4),
                frac_best_ge_0_4=round((best_iou >= 0.4).float().mean().item(), 4),
                positives_per_object=round(num_pos.float().mean().item(), 3))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--num-images', type=int, default=300)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys (as in tools/train.py), e.g. anchor scales')
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    head = cfg.model.get('bbox_head') or {}
    if 'anchor_generator' not in head:
        raise KeyError(f'{args.config}: model.bbox_head has no anchor_generator (an anchor-free head?)')
    assigner = cfg.model.get('train_cfg', {}).get('assigner', {})
    pos_iou_thr = float(assigner.get('pos_iou_thr', 0.5))
    generator = TASK_UTILS.build(head['anchor_generator'])
    iou_calculator = TASK_UTILS.build(assigner.get('iou_calculator', dict(type='mmdet.BboxOverlaps2D')))
    divisor = cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 1)

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    set_random_seed(0)  # the training pipeline's random flips move rotated boxes: same figures every run
    best, num_pos, cache = [], [], {}
    for i in range(min(args.num_images, len(dataset))):
        sample = dataset[i]['data_samples']
        h, w = sample.metainfo['img_shape'][:2]
        h, w = math.ceil(h / divisor) * divisor, math.ceil(w / divisor) * divisor
        if (h, w) not in cache:
            sizes = [(math.ceil(h / s[1]), math.ceil(w / s[0])) for s in generator.strides]
            levels = generator.grid_priors(sizes, device='cpu')  # tensors, or box objects (mmrotate)
            cache[(h, w)] = torch.cat([getattr(a, 'tensor', a) for a in levels])
        gt = getattr(sample.gt_instances.bboxes, 'tensor', sample.gt_instances.bboxes)
        if len(gt) == 0:
            continue
        overlaps = iou_calculator(gt, cache[(h, w)])  # (G, A)
        best.append(overlaps.max(dim=1).values)
        num_pos.append((overlaps >= pos_iou_thr).sum(dim=1))
    result = coverage(torch.cat(best or [torch.zeros(0)]), torch.cat(num_pos or [torch.zeros(0)]), pos_iou_thr)
    print(f"{result['objects']} objects: mean best IoU {result['mean_best_iou']:.3f}; best anchor >= "
          f"{pos_iou_thr} for {100 * result['frac_best_ge_pos_thr']:.1f} %, >= 0.4 for "
          f"{100 * result['frac_best_ge_0_4']:.1f} %; {result['positives_per_object']:.2f} anchors >= "
          f"{pos_iou_thr} per object")
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main()
