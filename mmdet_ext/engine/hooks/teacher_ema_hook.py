"""Teacher EMA for source-free mean-teacher adaptation (specs/sfod.md section 0).

teacher <- k * teacher + (1 - k) * student over the full state (parameters and floating-point
buffers such as BN running statistics; integer buffers are copied), with ``k`` the teacher's
share (``keep_rate``: 0.75 in LPLD, 0.9 in IRG / WSCoL, 0.9996 per iteration in simple-SFOD).
Note MMDetection's ``MeanTeacherHook`` takes the student's share as ``momentum``, updates every
iteration only, and skips buffers by default; this hook adds the per-epoch cadence and buffers.
"""
import math

import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from ...registry import register


@torch.no_grad()
def update_teacher_ema(teacher: nn.Module, student: nn.Module, keep_rate: float,
                       include_buffers: bool = True) -> None:
    """In place: teacher <- keep_rate * teacher + (1 - keep_rate) * student.

    Raises:
        KeyError: when the two state dicts do not pair up (names listed).
    """
    if not 0. <= keep_rate <= 1.:
        raise ValueError(f'keep_rate must be in [0, 1], got {keep_rate}')
    t_state = dict(teacher.named_parameters())
    s_state = dict(student.named_parameters())
    if include_buffers:
        t_state.update(teacher.named_buffers())
        s_state.update(student.named_buffers())
    if t_state.keys() != s_state.keys():
        only_t = sorted(set(t_state) - set(s_state))[:5]
        only_s = sorted(set(s_state) - set(t_state))[:5]
        raise KeyError(f'teacher and student states do not pair: teacher-only {only_t}, student-only {only_s}')
    for name, t_value in t_state.items():
        s_value = s_state[name]
        if t_value.dtype.is_floating_point:
            t_value.mul_(keep_rate).add_(s_value.detach(), alpha=1. - keep_rate)
        else:
            t_value.copy_(s_value)


@register('HOOKS')
class TeacherEMAHook(Hook):
    """Update ``model.teacher`` from ``model.student`` by EMA at a fixed cadence.

    Args:
        keep_rate: the teacher's share k.
        by_epoch: update once per epoch of the training set (``ceil(len(dataset) / (batch size x
            world size))`` iterations: an epoch of the target set under an iteration-based loop).
        interval: update every ``interval`` iterations when ``by_epoch`` is False.
        include_buffers: average BN statistics too (the references do).
        require_load_from: refuse to start without a source checkpoint (``load_from``) or a
            resumed run: adapting a randomly initialised detector is never meant.
    """
    priority = 'NORMAL'

    def __init__(self, keep_rate: float = 0.75, by_epoch: bool = True, interval: int = 1,
                 include_buffers: bool = True, require_load_from: bool = True):
        if not 0. <= keep_rate <= 1.:
            raise ValueError(f'TeacherEMAHook: keep_rate must be in [0, 1], got {keep_rate}')
        if not by_epoch and interval < 1:
            raise ValueError(f'TeacherEMAHook: interval must be >= 1, got {interval}')
        self.keep_rate, self.by_epoch, self.interval = keep_rate, by_epoch, interval
        self.include_buffers, self.require_load_from = include_buffers, require_load_from
        self.period = None
        self.num_updates = 0

    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not (hasattr(model, 'teacher') and hasattr(model, 'student')):
            raise TypeError(f'TeacherEMAHook needs a model with .teacher and .student, got {type(model).__name__}')
        return model

    def before_train(self, runner) -> None:
        self._model(runner)
        if self.require_load_from and not (runner._load_from or runner._resume):
            raise ValueError(
                'source-free adaptation needs a source-trained checkpoint: set `load_from` in the '
                'config (or --cfg-options load_from=PATH); it is loaded into student and teacher')
        if self.by_epoch:
            loader = runner.train_dataloader
            batch = loader.batch_size or getattr(loader.batch_sampler, 'batch_size', 1)
            self.period = max(1, math.ceil(len(loader.dataset) / (batch * get_world_size())))
        else:
            self.period = self.interval
        runner.logger.info(f'TeacherEMAHook: teacher <- {self.keep_rate} teacher + '
                           f'{1 - self.keep_rate:.4g} student every {self.period} iterations')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if (runner.iter + 1) % self.period:
            return
        model = self._model(runner)
        update_teacher_ema(model.teacher, model.student, self.keep_rate, self.include_buffers)
        self.num_updates += 1
        runner.message_hub.update_scalar('train/teacher_ema_updates', self.num_updates)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        # Schedules inside adaptation losses (WSCoL's first-epoch blend) read the progress.
        model = self._model(runner)
        if hasattr(model, 'progress'):
            model.progress.update(iter=runner.iter, max_iters=runner.max_iters, epoch_iters=self.period)
