from .lpld_loss import LPLDLoss  # noqa: F401
