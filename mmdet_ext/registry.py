"""Registration helpers.

Components are registered under mmdet_ext's own names in MMDetection's registries and,
when MMRotate is installed, mirrored into MMRotate's registries of the same kind, so a
config in either default scope can write ``type='OurName'`` (or ``'mmdet.OurName'``).
MMRotate's registries are siblings of MMDetection's (both children of MMEngine's roots),
so the mirror is needed for un-prefixed names in ``default_scope='mmrotate'`` configs.
Names that MMDetection or MMRotate already own are refused (never force-overwritten).
"""
from typing import Callable, Optional

import mmdet.registry as mmdet_registry

try:
    import mmrotate.registry as mmrotate_registry
except ImportError:  # MMRotate is optional for horizontal-only use.
    mmrotate_registry = None

_KINDS = ('MODELS', 'TASK_UTILS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'METRICS',
          'VISUALIZERS', 'DATA_SAMPLERS', 'LOOPS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
          'PARAM_SCHEDULERS', 'RUNNERS', 'MODEL_WRAPPERS')


def _targets(kind: str):
    if kind not in _KINDS:
        raise KeyError(f'unknown registry kind {kind!r}; expected one of {_KINDS}')
    yield getattr(mmdet_registry, kind)
    if mmrotate_registry is not None and hasattr(mmrotate_registry, kind):
        yield getattr(mmrotate_registry, kind)


def register(kind: str, name: Optional[str] = None) -> Callable:
    """Decorator: register a class in mmdet's ``kind`` registry (and mmrotate's mirror).

    Args:
        kind: registry attribute name, e.g. ``'MODELS'``, ``'TASK_UTILS'``.
        name: registered name; defaults to the class name.
    """

    def wrap(cls):
        key = name or cls.__name__
        for registry in _targets(kind):
            if key in registry.module_dict and registry.module_dict[key] is not cls:
                raise KeyError(f'{key!r} is already registered in {registry.scope}::{registry.name} '
                               f'by {registry.module_dict[key].__module__}; mmdet_ext never '
                               'overwrites an existing name')
            if key not in registry.module_dict:
                registry.register_module(name=key, module=cls)
        return cls

    return wrap
