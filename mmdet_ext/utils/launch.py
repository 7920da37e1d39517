"""Runtime preparation shared by ``tools/train.py`` and ``tools/test.py``.

Distributed runs always go through MMEngine's launchers (torchrun / slurm / mpi). The one
divergence: on a machine without a GPU, MMEngine 0.10.7's ``init_dist('pytorch')`` calls
``torch.cuda.set_device`` unconditionally and its default DDP wrapper passes
``device_ids=[LOCAL_RANK]``; both fail on CPU. The Runner skips its own ``init_dist`` when
a process group already exists, so here we open a ``gloo`` group from torchrun's
environment first and ask for a device-less DDP wrapper. GPU machines keep MMEngine's path.
"""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Initialise a gloo process group for ``launcher`` when no GPU is present.

    Args:
        cfg: the config about to build a Runner (``model_wrapper_cfg`` is set if absent).
        launcher: ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} without a GPU is not supported: on CPU use '
            'tools/dist_train.sh (torchrun, --launcher pytorch).')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch needs the torchrun environment; missing {missing}. '
                           'Start it with tools/dist_train.sh or torchrun.')
    dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'


def load_tool_config(args) -> Config:
    """Config of a tool's ``args`` as MMDetection's tools build it: file, launcher,
    ``--cfg-options`` merged, then the work dir (CLI > file > ``work_dirs/<name>``)."""
    from mmdet.utils import setup_cache_size_limit_of_dynamo
    setup_cache_size_limit_of_dynamo()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    default_work_dir(cfg, args.config, args.work_dir)
    return cfg


def default_work_dir(cfg: Config, config_path: str, work_dir=None) -> None:
    """MMDetection's rule: CLI ``--work-dir`` > ``work_dir`` in the file > work_dirs/<name>."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = os.path.join('./work_dirs', os.path.splitext(os.path.basename(config_path))[0])


def build_runner(cfg: Config):
    """Build the Runner the way MMDetection's tools do (``runner_type`` if the config has one)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def finish_distributed() -> None:
    """Close the process group once the run is over.

    Exiting with a live gloo group let a rank abort in C++ teardown ("terminate called
    without an active exception", SIGABRT) after training had finished and checkpointed;
    torchrun then reports the whole job as failed.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
