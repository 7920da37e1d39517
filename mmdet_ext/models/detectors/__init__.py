from .source_free_mean_teacher import SourceFreeMeanTeacher  # noqa: F401
