"""Checkpoints load with weights_only=True: MMEngine's own files do, crafted ones are refused."""
import glob
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torchvision
from mmengine.runner.checkpoint import _load_checkpoint

import mmdet_ext  # noqa: F401  (installs the allow-list)
from mmdet_ext.utils.safe_checkpoint import UnsafeCheckpointError, allowed_global_names


class _RunsShell:
    """Unpickling this calls os.system: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def test_runner_checkpoint_loads_with_weights_only(tiny_demo_run):
    ckpt = sorted(glob.glob(osp.join(tiny_demo_run, 'iter_*.pth')))[-1]
    # What torch refuses by default is exactly what we allow-list.
    assert set(torch.serialization.get_unsafe_globals_in_checkpoint(ckpt)) <= allowed_global_names()
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
    """``builtins.getattr`` resolves HistoryBuffer's statistics methods only, nothing else."""
    path = tmp_path / 'gadget.pth'

    class Gadget:
        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')

    torch.save({'x': Gadget()}, path)
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        _load_checkpoint(str(path), map_location='cpu')


def test_plain_state_dict_loads(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save(torchvision.models.resnet18().state_dict(), path)
    state = _load_checkpoint(str(path), map_location='cpu')
    assert 'conv1.weight' in state and state['fc.weight'].shape == (1000, 512)
