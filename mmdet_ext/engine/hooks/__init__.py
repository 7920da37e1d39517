from .teacher_ema_hook import TeacherEMAHook, update_teacher_ema  # noqa: F401
