"""NSA's staged schedule (specs/sfod.md section 3).

Stage 1: the teacher follows the student by EMA every N iterations with keep rate 0.99 (the
config's :class:`TeacherEMAHook`, ``by_epoch=False, interval=N``). From ``stage2_begin`` on, this
hook lowers that hook's keep rate (0.92) and, every ``pull_interval`` iterations, pulls the
student toward the teacher: student <- s * student + (1 - s) * teacher (``student_keep`` = s;
the spec gives no value: 0.5 here, a config parameter).
"""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...registry import register
from .teacher_ema_hook import TeacherEMAHook, update_teacher_ema


def nsa_stage(iteration: int, stage2_begin: int) -> int:
    """1 before ``stage2_begin`` (0-based iteration), 2 from it on."""
    return 1 if iteration < stage2_begin else 2


@register('HOOKS')
class NSAStageHook(Hook):
    """Args:
        stage2_begin: first (0-based) iteration of stage 2; a float in (0, 1) is a fraction of
            ``max_iters``.
        stage_keep_rates: the teacher EMA keep rate of stage 1 and of stage 2.
        pull_interval: iterations between pulls of the student toward the teacher (stage 2);
            0 disables them.
        student_keep: the student's share in a pull.
    """
    priority = 'ABOVE_NORMAL'  # before TeacherEMAHook (NORMAL) in every iteration

    def __init__(self, stage2_begin=0.5, stage_keep_rates=(0.99, 0.92), pull_interval: int = 200,
                 student_keep: float = 0.5, include_buffers: bool = True):
        if len(stage_keep_rates) != 2 or not all(0 <= k <= 1 for k in stage_keep_rates):
            raise ValueError(f'stage_keep_rates must be two values in [0, 1], got {stage_keep_rates}')
        if not 0 <= student_keep <= 1 or pull_interval < 0:
            raise ValueError(f'student_keep must be in [0, 1] and pull_interval >= 0, got '
                             f'{student_keep}, {pull_interval}')
        if isinstance(stage2_begin, float) and not 0 < stage2_begin < 1:
            raise ValueError(f'a float stage2_begin is a fraction of max_iters in (0, 1), got {stage2_begin}')
        self.stage2_begin_cfg = stage2_begin
        self.stage_keep_rates = tuple(stage_keep_rates)
        self.pull_interval, self.student_keep, self.include_buffers = pull_interval, student_keep, include_buffers
        self.stage2_begin = None
        self.num_pulls = 0

    def before_train(self, runner) -> None:
        begin = self.stage2_begin_cfg
        self.stage2_begin = int(round(begin * runner.max_iters)) if isinstance(begin, float) else int(begin)
        if not self._ema_hooks(runner):
            raise ValueError('NSAStageHook sets the keep rate of a TeacherEMAHook: add one to custom_hooks')
        runner.logger.info(f'NSAStageHook: stage 2 from iteration {self.stage2_begin}, teacher keep '
                           f'rates {self.stage_keep_rates}, student pulled toward the teacher every '
                           f'{self.pull_interval} iterations of stage 2 (student share {self.student_keep})')

    @staticmethod
    def _ema_hooks(runner):
        return [h for h in runner.hooks if isinstance(h, TeacherEMAHook)]

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        stage = nsa_stage(runner.iter, self.stage2_begin)
        for hook in self._ema_hooks(runner):
            hook.keep_rate = self.stage_keep_rates[stage - 1]
        runner.message_hub.update_scalar('train/nsa_stage', stage)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1
        if self.pull_interval <= 0 or nsa_stage(runner.iter, self.stage2_begin) < 2 \
                or (done - self.stage2_begin) % self.pull_interval or done == self.stage2_begin:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        # The same convex update with the roles swapped: student <- s student + (1 - s) teacher.
        update_teacher_ema(model.student, model.teacher, self.student_keep, self.include_buffers)
        self.num_pulls += 1
        runner.message_hub.update_scalar('train/nsa_student_pulls', self.num_pulls)
