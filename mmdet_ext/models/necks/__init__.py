"""Necks; importing this module registers them in MODELS."""
from .sepc import SEPC

__all__ = ['SEPC']
