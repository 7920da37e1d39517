from . import safe_checkpoint
from .config_checks import check_data_paths
from .launch import prepare_cpu_distributed

safe_checkpoint.install()

__all__ = ['check_data_paths', 'prepare_cpu_distributed', 'safe_checkpoint']
