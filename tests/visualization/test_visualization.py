"""prediction_grid and training_curves: what the demo writes into work_dirs/."""
import json

import cv2
import numpy as np
import pytest

from mmdet_ext.visualization import draw_prediction_grid, load_scalars, plot_training_curves
from mmdet_ext.visualization.prediction_grid import _box_corners


def test_box_corners_horizontal_and_rotated():
    assert _box_corners(np.array([1, 2, 5, 6], np.float32)).tolist() == [[1, 2], [5, 2], [5, 6], [1, 6]]
    corners = _box_corners(np.array([10, 10, 8, 2, np.pi / 2], np.float32))
    # rotated by 90 degrees: 2 wide, 8 tall around (10, 10)
    assert np.allclose(np.sort(corners[:, 0]), [9, 9, 11, 11], atol=1e-4)
    assert np.allclose(np.sort(corners[:, 1]), [6, 6, 14, 14], atol=1e-4)


def test_prediction_grid_layout_and_threshold(tmp_path):
    img = np.zeros((32, 48, 3), np.uint8)
    pred = dict(bboxes=np.array([[4, 4, 20, 20], [0, 0, 8, 8]], np.float32),
                scores=np.array([0.9, 0.1]), labels=np.array([0, 1]))
    out = tmp_path / 'grid.png'
    grid = draw_prediction_grid([img] * 5, [np.array([[2, 2, 30, 30]], np.float32)] * 5, [pred] * 5,
                                ('a', 'b'), str(out), score_thr=0.3, cols=4, scale=2)
    assert grid.shape == (2 * 64, 4 * 96, 3) and cv2.imread(str(out)).shape == grid.shape
    tile = grid[:64, :96]
    assert (tile[8, 12:36] > 0).all()          # the confident box's top edge (8..40 at scale 2)
    assert (tile[4, 44:56] > 200).all()        # the ground truth in white (4..60), right of the label
    assert (tile[0, :17] == 0).all() and (tile[:3, 0] == 0).all()  # the 0.1-score box is not drawn
    assert (grid[64:, 96:] == 0).all()         # empty cells stay black


def test_load_scalars_merges_resumed_runs_by_step(tmp_path):
    for run, recs in {'20260101_000000': [dict(loss=2.0, iter=10, step=10), dict(**{'coco/bbox_mAP_50': 0.1}, step=10)],
                      '20260101_010000': [dict(loss=1.0, iter=20, step=20), dict(**{'coco/bbox_mAP_50': 0.5}, step=20)]}.items():
        d = tmp_path / run / 'vis_data'
        d.mkdir(parents=True)
        (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs) + '\n')
    train, val = load_scalars(str(tmp_path))
    assert [r['step'] for r in train] == [10, 20] and [r['coco/bbox_mAP_50'] for r in val] == [0.1, 0.5]
    series = plot_training_curves(str(tmp_path), str(tmp_path / 'curves.png'))
    assert series['loss'] == [(10, 2.0), (20, 1.0)] and series['coco/bbox_mAP_50'] == [(10, 0.1), (20, 0.5)]
    assert cv2.imread(str(tmp_path / 'curves.png')) is not None


def test_curves_without_logs_say_where_they_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        plot_training_curves(str(tmp_path), str(tmp_path / 'c.png'))
