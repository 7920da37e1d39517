"""Assigners and IoU calculators; importing this module registers them in TASK_UTILS."""
from .delta_l1_cost import DeltaL1Cost
from .sparse_atss_assigner import SparseATSSAssigner
from .sparse_fsaf_assigner import SparseFSAFAssigner
from .sparse_rbbox_overlaps import SparseRBboxOverlaps2D

__all__ = ['DeltaL1Cost', 'SparseATSSAssigner', 'SparseFSAFAssigner', 'SparseRBboxOverlaps2D']
