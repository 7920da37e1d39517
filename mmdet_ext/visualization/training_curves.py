"""Loss and mAP over training, read from MMEngine's ``vis_data/scalars.json`` logs."""
import glob
import json
import os.path as osp
from typing import Dict, List, Sequence, Tuple


def load_scalars(work_dir: str) -> Tuple[List[dict], List[dict]]:
    """Collect training and validation records of every run (resumed runs included).

    Args:
        work_dir: a Runner's work dir holding ``<timestamp>/vis_data/scalars.json`` files.

    Returns:
        ``(train, val)``: training records (with ``loss`` and ``step``/``iter``) and
        validation records (metric keys such as ``coco/bbox_mAP_50``), each sorted by step,
        later runs overriding earlier ones at the same step.
    """
    train: Dict[int, dict] = {}
    val: Dict[int, dict] = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                step = int(rec.get('iter', rec.get('step', 0)))
                (train if 'loss' in rec else val)[step] = rec
    return [train[k] for k in sorted(train)], [val[k] for k in sorted(val)]


def plot_training_curves(work_dir: str, out_file: str,
                         metric_keys: Sequence[str] = ('coco/bbox_mAP_50', 'coco/bbox_mAP',
                                                       'dota/mAP')) -> Dict[str, list]:
    """Plot the loss (left) and the validation metrics (right) against the iteration.

    Returns:
        The plotted series, ``{'loss': [(iter, loss), ...], '<metric>': [...]}``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    train, val = load_scalars(work_dir)
    if not train:
        raise FileNotFoundError(f'no training logs (*/vis_data/scalars.json) under {work_dir!r}')
    series = {'loss': [(int(r.get('iter', r.get('step'))), r['loss']) for r in train]}
    for key in metric_keys:
        pts = [(int(r.get('step', r.get('iter', 0))), r[key]) for r in val if key in r]
        if pts:
            series[key] = pts

    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(*zip(*series['loss']), lw=1)
    ax_loss.set(xlabel='iteration', ylabel='total loss', title='training loss', yscale='log')
    for key, pts in series.items():
        if key != 'loss':
            ax_map.plot(*zip(*pts), marker='o', label=key)
    ax_map.set(xlabel='iteration', ylabel='metric', title='validation', ylim=(0, 1))
    ax_map.legend(loc='lower right')
    ax_map.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return series
