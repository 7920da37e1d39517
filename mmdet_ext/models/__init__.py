from . import task_modules  # noqa: F401
