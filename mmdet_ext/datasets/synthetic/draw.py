"""Shared drawing primitives of the synthetic datasets (pure numpy + OpenCV, no torch).

Conventions:

* Canvases are ``float32`` HxWx3 arrays in OpenCV's BGR order with values in [0, 255];
  :func:`to_uint8` rounds them for writing.
* Geometry is in *continuous* pixel coordinates: pixel ``(i, j)`` covers ``[j, j+1) x
  [i, i+1)``, so a box ``[x0, y0, w, h]`` written to an annotation file covers exactly the
  drawn shape (OpenCV's pixel centres are at integer coordinates; the shift by 0.5 is done
  here, once).
* Shapes are rasterised as anti-aliased polygons (sub-pixel precision, ``shift=4``) into a
  small crop and alpha-blended, so drawing one object costs O(its area), not O(image).
* Every random choice comes from the ``numpy.random.Generator`` passed in: same generator
  state, same pixels.
"""
from typing import List, Optional, Tuple

import cv2
import numpy as np

#: PNG compression level, fixed so that output bytes do not depend on OpenCV's default.
PNG_PARAMS = [int(cv2.IMWRITE_PNG_COMPRESSION), 1]

_SHIFT = 4
_SCALE = float(1 << _SHIFT)
_GRIDS = {}


def _grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """Cached ``(yy, xx)`` float32 pixel-centre coordinate grids of an HxW image."""
    key = (h, w)
    if key not in _GRIDS:
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        _GRIDS[key] = (yy + 0.5, xx + 0.5)
    return _GRIDS[key]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int = 3,
                  interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """Unit-variance-ish noise with ``cells`` x ``cells`` degrees of freedom, upsampled."""
    small = rng.standard_normal((cells, cells, channels), dtype=np.float32)
    out = cv2.resize(small, (w, h), interpolation=interpolation)
    return out.reshape(h, w, channels) if channels > 1 else out.reshape(h, w)


def textured_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random textured background: base colour, low-frequency colour drift, one of
    (plain / stripes / mottle / tiles) and fine sensor-like noise. Vectorised (~ms)."""
    scale = w / 256.0
    base = rng.uniform(40.0, 215.0, size=3).astype(np.float32)
    img = _smooth_noise(rng, h, w, int(rng.integers(2, 7))) * np.float32(rng.uniform(8.0, 30.0))
    img += base
    yy, xx = _grid(h, w)
    pattern = int(rng.integers(4))
    if pattern == 1:  # soft stripes
        theta = rng.uniform(0.0, np.pi)
        period = rng.uniform(8.0, 40.0) * scale
        amp = rng.uniform(5.0, 18.0)
        phase = (xx * np.float32(np.cos(theta)) + yy * np.float32(np.sin(theta))) * np.float32(
            2 * np.pi / period) + np.float32(rng.uniform(0.0, 2 * np.pi))
        tint = rng.uniform(0.5, 1.0, size=3).astype(np.float32) * np.float32(amp)
        img += np.sin(phase)[..., None] * tint
    elif pattern == 2:  # mottled mid-frequency texture
        cells = int(rng.integers(12, 40))
        img += _smooth_noise(rng, h, w, cells, interpolation=cv2.INTER_LINEAR) * np.float32(
            rng.uniform(6.0, 18.0))
    elif pattern == 3:  # faint tiles
        cell = np.float32(rng.uniform(16.0, 48.0) * scale)
        tiles = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(np.float32) - 0.5
        img += tiles[..., None] * (rng.uniform(0.5, 1.0, size=3).astype(np.float32) *
                                   np.float32(rng.uniform(6.0, 20.0)))
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(2.0, 7.0))
    return img


def blend(canvas: np.ndarray, x0: int, y0: int, alpha_u8: np.ndarray,
          fill: np.ndarray) -> None:
    """``canvas[crop] = canvas[crop] * (1 - a) + fill * a`` with ``a = alpha_u8 / 255``."""
    hh, ww = alpha_u8.shape
    region = canvas[y0:y0 + hh, x0:x0 + ww]
    a = alpha_u8.astype(np.float32)[..., None] * np.float32(1.0 / 255.0)
    region += a * (fill - region)


def polygon_mask(poly: np.ndarray, h: int, w: int) -> Optional[Tuple[int, int, np.ndarray]]:
    """Anti-aliased coverage of a polygon (continuous coords, (N, 2)) in a tight crop.

    Returns ``(x0, y0, alpha)`` with ``alpha`` a uint8 crop (255 = fully covered) whose
    top-left pixel is ``(x0, y0)`` in the image, or ``None`` when it misses the image.
    """
    xmin = max(int(np.floor(poly[:, 0].min())) - 1, 0)
    ymin = max(int(np.floor(poly[:, 1].min())) - 1, 0)
    xmax = min(int(np.ceil(poly[:, 0].max())) + 1, w)
    ymax = min(int(np.ceil(poly[:, 1].max())) + 1, h)
    if xmax <= xmin or ymax <= ymin:
        return None
    mask = np.zeros((ymax - ymin, xmax - xmin), np.uint8)
    pts = np.round((poly - np.array([xmin + 0.5, ymin + 0.5])) * _SCALE).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA, _SHIFT)
    return xmin, ymin, mask


def pick_colour(rng: np.random.Generator, background: np.ndarray, min_dist: float = 100.0,
                tries: int = 20) -> np.ndarray:
    """A random colour at least ``min_dist`` (RGB L2) from ``background`` when possible."""
    best, best_d = None, -1.0
    for _ in range(tries):
        c = rng.uniform(0.0, 255.0, size=3)
        d = float(np.linalg.norm(c - background))
        if d >= min_dist:
            return c.astype(np.float32)
        if d > best_d:
            best, best_d = c, d
    return best.astype(np.float32)


def fill_object(rng: np.random.Generator, canvas: np.ndarray, x0: int, y0: int,
                alpha_u8: np.ndarray, colour: np.ndarray) -> None:
    """Blend an object of base ``colour`` with a soft linear shading and fine noise."""
    hh, ww = alpha_u8.shape
    gx, gy = rng.uniform(-0.3, 0.3, size=2).astype(np.float32)
    yy = (np.arange(hh, dtype=np.float32) / max(hh, 1) - 0.5)[:, None]
    xx = (np.arange(ww, dtype=np.float32) / max(ww, 1) - 0.5)[None, :]
    shade = 1.0 + gx * xx + gy * yy
    fill = shade[..., None] * colour[None, None, :]
    fill += rng.standard_normal((hh, ww, 3), dtype=np.float32) * np.float32(rng.uniform(1.0, 4.0))
    blend(canvas, x0, y0, alpha_u8, fill)


def paint_polygon(rng: np.random.Generator, canvas: np.ndarray, poly: np.ndarray,
                  placer: 'Placer') -> bool:
    """Rasterise ``poly`` and, if ``placer`` accepts it, fill it in a colour that stands out
    from the background under it. Returns whether the object was painted."""
    crop = polygon_mask(poly, canvas.shape[0], canvas.shape[1])
    if crop is None or not placer.try_place(*crop):
        return False
    x0, y0, alpha = crop
    local = canvas[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]]
    background = local[alpha >= 128].mean(axis=0)
    fill_object(rng, canvas, x0, y0, alpha, pick_colour(rng, background))
    return True


def draw_distractors(rng: np.random.Generator, canvas: np.ndarray, count: int,
                     max_radius: float, min_radius: float = 1.0) -> None:
    """Small random dots / blobs (radius ``min_radius..max_radius``) that are not objects."""
    h, w = canvas.shape[:2]
    for _ in range(count):
        rx, ry = rng.uniform(min_radius, max_radius, size=2)
        if rng.random() < 0.5:
            ry = rx  # round dot
        cx, cy = rng.uniform(0.0, w), rng.uniform(0.0, h)
        angle = rng.uniform(0.0, 180.0)
        colour = rng.uniform(0.0, 255.0, size=3).astype(np.float32)
        x0, y0 = max(int(cx - max(rx, ry)) - 2, 0), max(int(cy - max(rx, ry)) - 2, 0)
        x1, y1 = min(int(cx + max(rx, ry)) + 3, w), min(int(cy + max(rx, ry)) + 3, h)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        centre = (int(round((cx - 0.5 - x0) * _SCALE)), int(round((cy - 0.5 - y0) * _SCALE)))
        axes = (max(int(round(rx * _SCALE)), 1), max(int(round(ry * _SCALE)), 1))
        cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
        blend(canvas, x0, y0, mask, colour[None, None, :])


def to_uint8(canvas: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def write_png(path: str, canvas: np.ndarray) -> None:
    img = canvas if canvas.dtype == np.uint8 else to_uint8(canvas)
    if not cv2.imwrite(path, img, PNG_PARAMS):
        raise OSError(f'cv2.imwrite failed for {path!r}')


# ----------------------------------------------------------------------------- geometry
def rect_polygon(x0: float, y0: float, w: float, h: float) -> np.ndarray:
    """Axis-aligned rectangle, clockwise in image coordinates (y down)."""
    return np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float64)


def ellipse_polygon(cx: float, cy: float, a: float, b: float, theta: float = 0.0,
                    n: int = 48) -> np.ndarray:
    """Ellipse with semi-axes ``a`` (along ``theta``) and ``b``; ``n`` multiple of 4 so the
    extreme points lie on the polygon (its bounding box is the ellipse's)."""
    t = np.arange(n) * (2 * np.pi / n)
    local = np.stack([a * np.cos(t), b * np.sin(t)], axis=1)
    return rotate(local, theta) + np.array([cx, cy])


def triangle_polygon(rng: np.random.Generator, x0: float, y0: float, w: float,
                     h: float) -> np.ndarray:
    """A triangle whose tight bounding box is ``[x0, y0, w, h]``: a base on one side of the
    box and the apex anywhere on the opposite side."""
    u = rng.uniform(0.0, 1.0)
    side = int(rng.integers(4))
    x1, y1 = x0 + w, y0 + h
    if side == 0:  # apex on top
        pts = [[x0 + u * w, y0], [x1, y1], [x0, y1]]
    elif side == 1:  # apex at bottom
        pts = [[x0, y0], [x1, y0], [x0 + u * w, y1]]
    elif side == 2:  # apex on the left
        pts = [[x0, y0 + u * h], [x1, y0], [x1, y1]]
    else:  # apex on the right
        pts = [[x0, y0], [x1, y0 + u * h], [x0, y1]]
    return np.array(pts, np.float64)


def rotate(local: np.ndarray, theta: float) -> np.ndarray:
    """Rotate (N, 2) points about the origin by ``theta`` (radians, image coordinates)."""
    c, s = np.cos(theta), np.sin(theta)
    return local @ np.array([[c, s], [-s, c]])


def obb_polygon(cx: float, cy: float, length: float, width: float, theta: float) -> np.ndarray:
    """Corners of the oriented rectangle (long side ``length`` along ``theta``), clockwise in
    image coordinates."""
    hl, hw = length / 2.0, width / 2.0
    local = np.array([[-hl, -hw], [hl, -hw], [hl, hw], [-hl, hw]])
    return rotate(local, theta) + np.array([cx, cy])


def arrow_polygon(rng: np.random.Generator, cx: float, cy: float, length: float, width: float,
                  theta: float) -> np.ndarray:
    """An arrow (shaft + triangular head) whose tight oriented box is ``length x width``
    along ``theta``; it points either way along the axis."""
    hl, hw = length / 2.0, width / 2.0
    head = length * rng.uniform(0.3, 0.45)
    shaft = hw * rng.uniform(0.35, 0.6)
    neck = hl - head
    local = np.array([[-hl, -shaft], [neck, -shaft], [neck, -hw], [hl, 0.0], [neck, hw],
                      [neck, shaft], [-hl, shaft]])
    if rng.random() < 0.5:
        local[:, 0] = -local[:, 0]
    return rotate(local, theta) + np.array([cx, cy])


def box_iou(box: Tuple[float, float, float, float], boxes: List[Tuple[float, ...]]) -> float:
    """Largest IoU of an ``xywh`` box against a list of ``xywh`` boxes (0 if empty)."""
    if not boxes:
        return 0.0
    b = np.asarray(boxes, np.float64)
    x0, y0, w, h = box
    iw = np.clip(np.minimum(x0 + w, b[:, 0] + b[:, 2]) - np.maximum(x0, b[:, 0]), 0, None)
    ih = np.clip(np.minimum(y0 + h, b[:, 1] + b[:, 3]) - np.maximum(y0, b[:, 1]), 0, None)
    inter = iw * ih
    return float((inter / (w * h + b[:, 2] * b[:, 3] - inter)).max())


class Placer:
    """Tracks which object is visible at each pixel and accepts a new object only when it
    neither hides too much of any earlier object nor lies too much on top of others.

    Args:
        h, w: image size.
        max_hidden: largest share of an earlier object's area the new one may cover.
        max_cover: largest share of the new object's own area lying on earlier objects.
    """

    def __init__(self, h: int, w: int, max_hidden: float, max_cover: float) -> None:
        self.idmap = np.zeros((h, w), np.int32)
        self.max_hidden = max_hidden
        self.max_cover = max_cover
        self.area = np.zeros(64, np.int64)
        self.visible = np.zeros(64, np.int64)
        self.count = 0

    def try_place(self, x0: int, y0: int, alpha_u8: np.ndarray) -> bool:
        inside = alpha_u8 >= 128
        area = int(inside.sum())
        if area == 0:
            return False
        hh, ww = alpha_u8.shape
        region = self.idmap[y0:y0 + hh, x0:x0 + ww]
        under = region[inside]
        under = under[under > 0]
        if under.size:
            if under.size > self.max_cover * area:
                return False
            ids, counts = np.unique(under, return_counts=True)
            if np.any(self.visible[ids] - counts < (1.0 - self.max_hidden) * self.area[ids]):
                return False
            self.visible[ids] -= counts
        self.count += 1
        if self.count >= len(self.area):
            self.area = np.concatenate([self.area, np.zeros_like(self.area)])
            self.visible = np.concatenate([self.visible, np.zeros_like(self.visible)])
        self.area[self.count] = area
        self.visible[self.count] = area
        region[inside] = self.count
        return True
