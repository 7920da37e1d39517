"""Checkpoints load with weights_only=True: MMEngine's own files do, crafted ones are refused."""
import glob
import os
import os.path as osp
import pickle

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

import mmdet_ext  # noqa: F401  (installs the allow-list)
from mmdet_ext.utils.safe_checkpoint import UnsafeCheckpointError, checkpoint_safe_globals


class _RunsShell:
    """Unpickling this calls os.system: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def test_runner_checkpoint_loads_with_weights_only(tiny_demo_run):
    ckpt = sorted(glob.glob(osp.join(tiny_demo_run, 'iter_*.pth')))[-1]
    # What torch refuses by default is exactly what we allow-list.
    allowed = {f'{g.__module__}.{g.__qualname__}' for g in checkpoint_safe_globals()}
    assert set(torch.serialization.get_unsafe_globals_in_checkpoint(ckpt)) <= allowed
    state = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'} <= set(state)
    assert state['message_hub']['log_scalars']['train/loss'].current() > 0
    assert _load_checkpoint(ckpt, map_location='cpu')['meta']['iter'] == int(
        osp.basename(ckpt)[5:-4])


def test_crafted_checkpoint_is_refused_with_reason(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsShell(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path), map_location='cpu')
    msg = str(err.value)
    assert str(path) in msg and 'system' in msg and 'execute arbitrary code' in msg
    assert not marker.exists()
    assert isinstance(err.value, pickle.UnpicklingError)


def test_getattr_gadget_is_refused(tmp_path):
    """``builtins.getattr`` is not allow-listed: it would reach any attribute of allowed objects."""
    path = tmp_path / 'gadget.pth'

    class Gadget:
        def __reduce__(self):
            return getattr, (os, 'system')

    torch.save({'x': Gadget()}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        _load_checkpoint(str(path), map_location='cpu')
