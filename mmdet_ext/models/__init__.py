from . import task_modules  # noqa: F401
from . import backbones, layers  # noqa: F401
from . import dense_heads  # noqa: F401
from . import losses  # noqa: F401
from . import detectors  # noqa: F401
from . import necks  # noqa: F401
