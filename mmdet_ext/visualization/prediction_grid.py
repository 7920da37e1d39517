"""A single picture of predictions on a few images, ground truth alongside, for the demo."""
from typing import List, Optional, Sequence

import cv2
import numpy as np


def _draw_poly(img: np.ndarray, corners: np.ndarray, color, thickness: int = 1) -> None:
    cv2.polylines(img, [np.round(corners).astype(np.int32).reshape(-1, 1, 2)], True, color, thickness,
                  cv2.LINE_AA)


def _box_corners(box: np.ndarray) -> np.ndarray:
    """(4,) xyxy or (5,) cx, cy, w, h, angle (radians) -> (4, 2) corners."""
    if box.shape[-1] == 4:
        x1, y1, x2, y2 = box
        return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)
    cx, cy, w, h, a = box
    return cv2.boxPoints(((float(cx), float(cy)), (float(w), float(h)), float(np.degrees(a))))


def draw_prediction_grid(images: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                         preds: Sequence[dict], classes: Sequence[str], out_file: str,
                         score_thr: float = 0.3, cols: int = 4, palette: Optional[List] = None,
                         scale: int = 2) -> np.ndarray:
    """Draw ground truth (thin white) and predictions (class colour, label and score).

    Args:
        images: BGR uint8 images (H, W, 3).
        gts: per image, ground-truth boxes (G, 4) xyxy or (G, 5) rotated.
        preds: per image, ``dict(bboxes=(N, 4|5), scores=(N,), labels=(N,))`` numpy arrays.
        classes: class names.
        out_file: where the grid PNG is written.
        score_thr: predictions below it are not drawn.
        cols: images per row.
        scale: upsampling factor, so small images stay readable.

    Returns:
        The grid image (BGR).
    """
    palette = palette or [(60, 20, 220), (255, 130, 0), (0, 180, 255), (80, 200, 60), (200, 0, 200)]
    tiles = []
    for img, gt, pred in zip(images, gts, preds):
        tile = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        for box in np.asarray(gt, dtype=np.float32):
            _draw_poly(tile, _box_corners(box * _box_scale(box, scale)), (255, 255, 255), 1)
        keep = pred['scores'] >= score_thr
        for box, score, label in zip(pred['bboxes'][keep], pred['scores'][keep], pred['labels'][keep]):
            color = palette[int(label) % len(palette)]
            corners = _box_corners(np.asarray(box, dtype=np.float32) * _box_scale(box, scale))
            _draw_poly(tile, corners, color, 2)
            x, y = corners.min(0)
            cv2.putText(tile, f'{classes[int(label)]} {score:.2f}', (int(x), max(int(y) - 3, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
        tiles.append(tile)
    if not tiles:
        raise ValueError('draw_prediction_grid: no images given')
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    rows = -(-len(tiles) // cols)
    grid = np.zeros((rows * h, min(cols, len(tiles)) * w, 3), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * h:r * h + tile.shape[0], c * w:c * w + tile.shape[1]] = tile
    cv2.imwrite(out_file, grid)
    return grid


def _box_scale(box, scale: int) -> np.ndarray:
    """Scale coordinates and sizes, not the angle of a rotated box."""
    n = np.asarray(box).shape[-1]
    return np.array([scale] * 4 + [1] * (n - 4), dtype=np.float32)
