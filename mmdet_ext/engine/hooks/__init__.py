from .teacher_ema_hook import TeacherEMAHook, update_teacher_ema  # noqa: F401
from .nsa_stage_hook import NSAStageHook  # noqa: F401
