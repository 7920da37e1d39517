"""NSA's cadence: teacher EMA every N iterations with the stage's keep rate (TeacherEMAHook driven
by NSAStageHook), and the student pulled toward the teacher every M iterations of stage 2."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmdet_ext.engine.hooks import NSAStageHook, TeacherEMAHook
from mmdet_ext.engine.hooks.nsa_stage_hook import nsa_stage


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = nn.Linear(1, 1, bias=False)
        self.teacher = nn.Linear(1, 1, bias=False)
        self.progress = {}


def _runner(model, hooks, max_iters):
    scalars = {}
    hub = SimpleNamespace(update_scalar=lambda k, v: scalars.__setitem__(k, v))
    return SimpleNamespace(model=model, hooks=hooks, train_dataloader=None, _load_from='source.pth',
                           _resume=False, iter=0, max_iters=max_iters, message_hub=hub,
                           logger=SimpleNamespace(info=lambda *a, **k: None), scalars=scalars)


def _run(runner, hooks, max_iters, on_step=None):
    """The hooks in MMEngine's order (priority: NSAStageHook before TeacherEMAHook)."""
    for h in hooks:
        h.before_train(runner)
    events = []
    for it in range(max_iters):
        runner.iter = it
        for h in hooks:
            h.before_train_iter(runner, it)
        if on_step:
            on_step(it)
        before = (runner.model.teacher.weight.item(), runner.model.student.weight.item())
        for h in hooks:
            h.after_train_iter(runner, it)
        after = (runner.model.teacher.weight.item(), runner.model.student.weight.item())
        events.append((it + 1, before[0] != after[0], before[1] != after[1], hooks[-1].keep_rate))
    return events


def test_ema_cadence_stage_keep_rates_and_pulls():
    model = Pair()
    ema = TeacherEMAHook(keep_rate=0.99, by_epoch=False, interval=5)
    stage = NSAStageHook(stage2_begin=20, stage_keep_rates=(0.99, 0.92), pull_interval=10, student_keep=0.5)
    hooks = [stage, ema]
    assert stage.priority == 'ABOVE_NORMAL' and ema.priority == 'NORMAL'
    runner = _runner(model, hooks, 40)

    def train_step(it):  # the optimiser moves the student a little every iteration
        with torch.no_grad():
            model.student.weight.add_(1.)

    with torch.no_grad():
        model.student.weight.fill_(0.)
        model.teacher.weight.fill_(0.)
    events = _run(runner, hooks, 40, train_step)
    teacher_updates = [n for n, t, _, _ in events if t]
    assert teacher_updates == [5, 10, 15, 20, 25, 30, 35, 40]  # every 5 iterations
    keep_rates = {n: k for n, _, _, k in events}
    assert keep_rates[20] == 0.99 and keep_rates[21] == 0.92  # stage 2 from 0-based iteration 20
    pulls = [n for n, _, s, _ in events if s]
    assert pulls == [30, 40]  # every 10 iterations of stage 2
    assert stage.num_pulls == 2 and ema.num_updates == 8
    assert runner.scalars['train/nsa_stage'] == 2


def test_pull_value_and_ema_value():
    model = Pair()
    ema = TeacherEMAHook(keep_rate=0.99, by_epoch=False, interval=1)
    stage = NSAStageHook(stage2_begin=0.5, stage_keep_rates=(0.99, 0.92), pull_interval=1, student_keep=0.25)
    runner = _runner(model, [stage, ema], 2)
    with torch.no_grad():
        model.student.weight.fill_(4.)
        model.teacher.weight.fill_(0.)
    _run(runner, [stage, ema], 2)
    # iteration 1 (stage 1): teacher = 0.01 * 4 = 0.04; iteration 2 (stage 2): pull first
    # (student = 0.25 * 4 + 0.75 * 0.04 = 1.03), then the EMA with 0.92: 0.92 * 0.04 + 0.08 * 1.03.
    assert model.student.weight.item() == pytest.approx(1.03)
    assert model.teacher.weight.item() == pytest.approx(0.92 * 0.04 + 0.08 * 1.03)
    assert stage.stage2_begin == 1


def test_stage_rule_and_bad_arguments():
    assert [nsa_stage(i, 3) for i in range(5)] == [1, 1, 1, 2, 2]
    with pytest.raises(ValueError, match='stage_keep_rates'):
        NSAStageHook(stage_keep_rates=(0.99,))
    with pytest.raises(ValueError, match='fraction'):
        NSAStageHook(stage2_begin=1.5)
    with pytest.raises(ValueError, match='student_keep'):
        NSAStageHook(student_keep=2.)
    runner = _runner(Pair(), [], 10)
    with pytest.raises(ValueError, match='TeacherEMAHook'):
        NSAStageHook().before_train(runner)
