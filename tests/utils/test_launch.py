"""prepare_cpu_distributed: a gloo group from torchrun's environment when there is no GPU."""
import pytest
import torch
from mmengine.config import Config

from mmdet_ext.utils import prepare_cpu_distributed
from mmdet_ext.utils.launch import default_work_dir


def test_no_launcher_is_a_no_op():
    cfg = Config(dict())
    prepare_cpu_distributed(cfg, 'none')
    assert 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='GPU machines use MMEngine\'s own path')
def test_missing_torchrun_environment_is_named(monkeypatch):
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match=r"missing \['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'\]"):
        prepare_cpu_distributed(Config(dict()), 'pytorch')


@pytest.mark.skipif(torch.cuda.is_available(), reason='GPU machines use MMEngine\'s own path')
def test_slurm_without_gpu_is_refused_clearly():
    with pytest.raises(RuntimeError, match='--launcher slurm without a GPU'):
        prepare_cpu_distributed(Config(dict()), 'slurm')


@pytest.mark.skipif(torch.cuda.is_available(), reason='GPU machines use MMEngine\'s own path')
def test_single_process_gloo_group(monkeypatch):
    import torch.distributed as dist
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', '29731')
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    try:
        prepare_cpu_distributed(cfg, 'pytorch')
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert cfg.model_wrapper_cfg.device_ids is None and cfg.env_cfg.dist_cfg.backend == 'gloo'
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_default_work_dir_priority():
    cfg = Config(dict())
    default_work_dir(cfg, 'configs/demo/x.py')
    assert cfg.work_dir == './work_dirs/x'
    default_work_dir(cfg, 'configs/demo/x.py', '/tmp/w')
    assert cfg.work_dir == '/tmp/w'
