from .lpld_loss import LPLDLoss  # noqa: F401
from .wscol_loss import WSCoLLoss  # noqa: F401
from .nsa_loss import NSAConsistencyLoss  # noqa: F401
