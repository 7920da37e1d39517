"""The README's demo: train a detector on the embedded data, evaluate it, show the result.

    python tools/demo.py [--config CONFIG] [--work-dir DIR] [--iters N]

Writes into the work dir (default ``work_dirs/demo_<config name>``): checkpoints and logs,
``predictions.png`` (predictions on validation images, ground truth in white) and
``curves.png`` (loss and validation mAP over training). Running it again resumes or, when
training is complete, only re-evaluates and redraws.
"""
import argparse
import glob
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=osp.join(ROOT, 'configs/demo/atss_r18_fpn_shapes.py'))
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--iters', type=int, default=None, help='override max_iters (quick look)')
    parser.add_argument('--num-images', type=int, default=8, help='validation images in the picture')
    parser.add_argument('--score-thr', type=float, default=0.3, help='lowest score drawn')
    return parser.parse_args(argv)


def _run(cmd):
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def draw_predictions(cfg_path: str, checkpoint: str, out_file: str, num_images: int,
                     score_thr: float) -> None:
    import mmcv
    import numpy as np
    from mmdet.apis import inference_detector, init_detector
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet_ext.visualization import draw_prediction_grid

    cfg = Config.fromfile(cfg_path)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    model = init_detector(cfg, checkpoint, device='cpu')
    images, gts, preds = [], [], []
    for i in range(min(num_images, len(dataset))):
        info = dataset.get_data_info(i)
        img = mmcv.imread(info['img_path'])
        result = inference_detector(model, img).pred_instances
        gt = [inst['bbox'] for inst in info['instances']]
        if gt and len(gt[0]) == 8:  # DOTA polygons -> rotated boxes for drawing
            from mmrotate.structures import qbox2rbox
            import torch
            gt = qbox2rbox(torch.tensor(gt)).numpy()
        images.append(img)
        gts.append(np.asarray(gt, dtype=np.float32))
        bboxes = result.bboxes
        preds.append(dict(bboxes=np.asarray(getattr(bboxes, 'tensor', bboxes)),
                          scores=result.scores.numpy(), labels=result.labels.numpy()))
    draw_prediction_grid(images, gts, preds, dataset.metainfo['classes'], out_file, score_thr=score_thr)


def main(argv=None):
    args = parse_args(argv)
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join(ROOT, 'work_dirs', f'demo_{name}')
    py = sys.executable
    extra = []
    if args.iters:  # a short run still logs, validates once and checkpoints at its end
        n = args.iters
        extra = ['--cfg-options', f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
                 f'default_hooks.logger.interval={max(1, min(20, n // 5))}',
                 f'default_hooks.checkpoint.interval={n}']
    _run([py, 'tools/train.py', args.config, '--work-dir', work_dir, '--resume', 'auto', *extra])

    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    eval_dir = osp.join(work_dir, 'eval')
    _run([py, 'tools/test.py', args.config, checkpoint, '--work-dir', eval_dir])
    metrics = sorted(glob.glob(osp.join(eval_dir, '*', '*.json')))

    from mmdet_ext.visualization import plot_training_curves
    pictures = osp.join(work_dir, 'predictions.png')
    curves = osp.join(work_dir, 'curves.png')
    draw_predictions(args.config, checkpoint, pictures, args.num_images, args.score_thr)
    plot_training_curves(work_dir, curves)
    print('\n=== demo finished ===')
    if metrics:
        with open(metrics[-1]) as f:
            print('evaluation:', json.dumps(json.load(f)))
    print(f'checkpoint:  {checkpoint}\npredictions: {pictures}\ncurves:      {curves}')


if __name__ == '__main__':
    main()
