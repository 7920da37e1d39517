"""Load MMEngine checkpoints with ``torch.load(weights_only=True)``.

torch >= 2.6 defaults to ``weights_only=True`` and MMEngine 0.10.7 calls ``torch.load``
bare, so ``load_from`` / ``--resume`` fail on the checkpoints MMEngine's own Runner writes:
their ``message_hub`` holds ``HistoryBuffer`` objects and numpy values. Instead of
``weights_only=False`` (which lets a downloaded file run arbitrary code) we allow-list
exactly the classes MMEngine writes, and replace the error of a refused file by one that
names the file, the refused globals and why.
"""
import pickle
from typing import Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _numpy_core():
    # numpy 2 renamed numpy.core to numpy._core; pickles name the module they were made with.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return multiarray


def _dtype_classes() -> List[type]:
    """``numpy.dtypes.Float64DType`` and friends: what ``type(np.dtype(x))`` returns."""
    names = ['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
             'float16', 'float32', 'float64', 'longdouble', 'complex64', 'complex128', 'str',
             'bytes', 'object', 'void', 'datetime64', 'timedelta64']
    return sorted({type(np.dtype(n)) for n in names}, key=lambda t: t.__name__)


# Registered by HistoryBuffer.__init__ (the class dict is empty until a buffer exists).
_HISTORY_BUFFER_STATISTICS = {'min', 'max', 'current', 'mean'}


def history_buffer_getattr(obj, name: str):
    """Stands in for ``builtins.getattr`` while unpickling.

    A HistoryBuffer pickles its ``_statistics_methods`` as ``getattr(HistoryBuffer, 'min')``
    etc., so MMEngine checkpoints reference ``builtins.getattr``. Allowing the real getattr
    would let a crafted file reach any attribute of any allowed object; this only resolves
    HistoryBuffer's registered statistics methods and refuses everything else.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS | set(HistoryBuffer._statistics_methods):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}); '
        'only HistoryBuffer statistics methods may be looked up')


def checkpoint_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The allow-list: everything an MMEngine Runner checkpoint contains beyond tensors."""
    multiarray = _numpy_core()
    return [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype, HistoryBuffer,
            *_dtype_classes(), (history_buffer_getattr, 'builtins.getattr')]


def install() -> None:
    """Allow-list MMEngine's checkpoint classes and wrap the local checkpoint loader."""
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _wrap_mmengine_loader()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects outside the allow-list; loading it could run code."""


def _explain_refusal(filename: str, err: Exception) -> UnsafeCheckpointError:
    try:
        refused = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(filename)
                   if g not in allowed_global_names()]
    except Exception:  # noqa: BLE001 - a corrupt file: fall back on torch's message alone
        refused = []
    text = str(err)
    detail = text.split('WeightsUnpickler error:', 1)[-1].split('Check the documentation')[0]
    reason = (f'it references {", ".join(refused)}, which is not on mmdet_ext\'s allow-list'
              if refused else f'the restricted unpickler stopped it: {" ".join(detail.split())}')
    return UnsafeCheckpointError(
        f'Refused to load checkpoint {filename!r}: {reason}. The allow-list holds what MMEngine '
        'checkpoints contain (tensors, numpy arrays/scalars, HistoryBuffer and its statistics '
        'methods); unpickling anything else could execute arbitrary code, so checkpoints are '
        'loaded with weights_only=True only. If you made this file yourself and trust it, '
        'convert it to a plain state_dict (torch.save(model.state_dict(), path)).')


def allowed_global_names() -> set:
    return {g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
            for g in checkpoint_safe_globals()}


def _wrap_mmengine_loader() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader
    original = CheckpointLoader._schemes.get('')
    if original is None or getattr(original, '_mmdet_ext_safe', False):
        return

    def load_from_local(filename, map_location=None, *args, **kwargs):
        try:
            return original(filename, map_location, *args, **kwargs)
        except pickle.UnpicklingError as err:
            raise _explain_refusal(str(filename), err) from err

    load_from_local._mmdet_ext_safe = True
    # Only the error message differs; loading itself stays MMEngine's (weights_only=True).
    CheckpointLoader._schemes[''] = load_from_local
