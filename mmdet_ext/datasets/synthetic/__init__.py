"""Deterministic synthetic datasets in standard formats (``../shared/specs/shapes.md``).

Pure numpy + OpenCV (no torch, no mmdet): importable by the CLI without the rest of
``mmdet_ext``. Same seed and arguments => byte-identical files.

* :func:`generate_shapes` - COCO JSON, horizontal boxes, 3 classes.
* :func:`generate_shapes_rot` - DOTA v1 layout, oriented boxes, 3 classes (``dense=True``:
  1024x1024 images with hundreds to ~2000 small objects).
* :func:`generate_shapes_fog` - COCO JSON, clean source domain + hazy target domain.
* :func:`ensure_dataset` - generate once (atomically, under a file lock) and reuse.
"""
from .ensure import DEFAULT_DIRS, KINDS, ensure_dataset, resolve_params
from .shapes import generate_shapes
from .shapes_fog import generate_shapes_fog
from .shapes_rot import generate_shapes_rot

__all__ = ['generate_shapes', 'generate_shapes_rot', 'generate_shapes_fog', 'ensure_dataset',
           'resolve_params', 'KINDS', 'DEFAULT_DIRS']
