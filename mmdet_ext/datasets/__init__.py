from . import shapes, transforms  # noqa: F401
from .shapes import ShapesCocoDataset, ShapesDOTADataset

__all__ = ["ShapesCocoDataset", "ShapesDOTADataset"]
