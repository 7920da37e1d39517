from .lpld_loss import LPLDLoss  # noqa: F401
from .wscol_loss import WSCoLLoss  # noqa: F401
