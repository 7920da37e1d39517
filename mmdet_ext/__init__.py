"""mmdet_ext: extension components for MMDetection 3.x and MMRotate 1.x.

Importing the package registers every component (configs do it with
``custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)``).
"""
__version__ = '0.1.0'

from . import utils  # noqa: F401,E402  (secure checkpoint loading is installed here)
from . import apis, datasets, engine, models, visualization  # noqa: F401,E402
