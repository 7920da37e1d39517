"""TeacherEMAHook: the exact update (parameters and buffers) and its cadence."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmdet_ext.engine.hooks import TeacherEMAHook, update_teacher_ema


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.teacher = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.progress = {}


def test_exact_update_with_buffers():
    pair = Pair()
    with torch.no_grad():
        for p in pair.student.parameters():
            p.fill_(1.)
        for p in pair.teacher.parameters():
            p.fill_(3.)
    pair.student[1].running_mean.fill_(2.)
    pair.teacher[1].running_mean.fill_(6.)
    pair.student[1].num_batches_tracked.fill_(7)
    update_teacher_ema(pair.teacher, pair.student, keep_rate=0.75)
    for p in pair.teacher.parameters():
        assert torch.allclose(p, torch.full_like(p, 0.75 * 3 + 0.25 * 1))
    assert torch.allclose(pair.teacher[1].running_mean, torch.full((4,), 0.75 * 6 + 0.25 * 2))
    assert pair.teacher[1].num_batches_tracked.item() == 7  # integer buffers are copied
    # The student is untouched.
    assert all(torch.all(p == 1.) for p in pair.student.parameters())


def test_buffers_can_be_skipped():
    pair = Pair()
    pair.teacher[1].running_mean.fill_(6.)
    update_teacher_ema(pair.teacher, pair.student, keep_rate=0.5, include_buffers=False)
    assert torch.all(pair.teacher[1].running_mean == 6.)


def test_mismatched_states_are_named():
    with pytest.raises(KeyError, match='do not pair'):
        update_teacher_ema(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)), 0.5)


def test_keep_rate_range():
    with pytest.raises(ValueError, match='keep_rate'):
        TeacherEMAHook(keep_rate=1.5)


def _runner(model, dataset_len=10, batch_size=4, load_from='source.pth', resume=False):
    loader = SimpleNamespace(dataset=list(range(dataset_len)), batch_size=batch_size)
    hub = SimpleNamespace(update_scalar=lambda *a, **k: None)
    logger = SimpleNamespace(info=lambda *a, **k: None)
    return SimpleNamespace(model=model, train_dataloader=loader, _load_from=load_from, _resume=resume,
                           iter=0, max_iters=100, message_hub=hub, logger=logger)


def _count_updates(hook, runner, iters):
    fired = []
    for it in range(iters):
        runner.iter = it
        before = hook.num_updates
        hook.before_train_iter(runner, it)
        hook.after_train_iter(runner, it)
        if hook.num_updates > before:
            fired.append(it)
    return fired


def test_fires_once_per_epoch_of_the_target_set():
    pair = Pair()
    hook = TeacherEMAHook(keep_rate=0.75, by_epoch=True)
    runner = _runner(pair, dataset_len=10, batch_size=4)  # ceil(10 / 4) = 3 iterations an epoch
    hook.before_train(runner)
    assert hook.period == 3
    assert _count_updates(hook, runner, 10) == [2, 5, 8]
    assert pair.progress['epoch_iters'] == 3


def test_fires_every_interval_iterations():
    pair = Pair()
    hook = TeacherEMAHook(keep_rate=0.9996, by_epoch=False, interval=1)
    runner = _runner(pair)
    hook.before_train(runner)
    assert _count_updates(hook, runner, 5) == [0, 1, 2, 3, 4]
    hook = TeacherEMAHook(keep_rate=0.9, by_epoch=False, interval=4)
    hook.before_train(runner)
    assert _count_updates(hook, runner, 9) == [3, 7]


def test_teacher_does_not_move_between_updates():
    pair = Pair()
    hook = TeacherEMAHook(keep_rate=0.5, by_epoch=False, interval=3)
    runner = _runner(pair)
    hook.before_train(runner)
    with torch.no_grad():
        for p in pair.student.parameters():
            p.add_(1.)
    before = [p.clone() for p in pair.teacher.parameters()]
    _count_updates(hook, runner, 2)
    assert all(torch.equal(a, b) for a, b in zip(before, pair.teacher.parameters()))
    _count_updates(hook, SimpleNamespace(**{**vars(runner), 'iter': 2}), 0)
    runner.iter = 2
    hook.after_train_iter(runner, 2)
    assert not all(torch.equal(a, b) for a, b in zip(before, pair.teacher.parameters()))


def test_refuses_to_adapt_without_a_source_checkpoint():
    hook = TeacherEMAHook()
    with pytest.raises(ValueError, match='load_from'):
        hook.before_train(_runner(Pair(), load_from=None))
    hook.before_train(_runner(Pair(), load_from=None, resume=True))  # resuming is fine


def test_needs_a_teacher_student_model():
    with pytest.raises(TypeError, match='teacher'):
        TeacherEMAHook().before_train(_runner(nn.Linear(2, 2)))
