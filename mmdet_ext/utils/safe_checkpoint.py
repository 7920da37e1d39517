"""Load MMEngine checkpoints with ``torch.load(weights_only=True)``.

torch >= 2.6 defaults to ``weights_only=True`` and MMEngine 0.10.7 calls ``torch.load``
bare, so ``load_from`` / ``--resume`` fail on the checkpoints MMEngine's own Runner writes:
their ``message_hub`` holds ``HistoryBuffer`` objects and numpy values. Instead of
``weights_only=False`` (which lets a downloaded file run arbitrary code) we allow-list
exactly the classes MMEngine writes, and replace the error of a refused file by one that
names the file, the refused globals and why.
"""
import pickle
from typing import Callable, List

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


def checkpoint_safe_globals() -> List[Callable]:
    """The allow-list: everything an MMEngine Runner checkpoint contains beyond tensors."""
    multiarray = _numpy_core()
    return [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype, HistoryBuffer,
            *_dtype_classes()]


def install() -> None:
    """Allow-list MMEngine's checkpoint classes and wrap the local checkpoint loader."""
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _wrap_mmengine_loader()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds objects outside the allow-list; loading it could run code."""


def _explain_refusal(filename: str, err: Exception) -> UnsafeCheckpointError:
    try:
        refused = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(filename)
                   if g not in _allowed_names()]
    except Exception:  # noqa: BLE001 - a corrupt file: fall back on torch's message alone
        refused = []
    what = f'it references {", ".join(refused)}' if refused else 'it is not a plain checkpoint'
    return UnsafeCheckpointError(
        f'Refused to load checkpoint {filename!r}: {what}, which is not on mmdet_ext\'s '
        'allow-list of what MMEngine checkpoints contain (tensors, numpy arrays/scalars, '
        'HistoryBuffer). Unpickling it could execute arbitrary code, so it is loaded with '
        'weights_only=True only. If you made this file yourself and trust it, convert it '
        'to a plain state_dict (torch.save(model.state_dict(), path)).\n'
        f'torch said: {err}')


def _allowed_names() -> set:
    names = set()
    for obj in checkpoint_safe_globals():
        names.add(f'{obj.__module__}.{obj.__qualname__}')
    return names


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
