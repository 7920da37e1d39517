from .source_free_mean_teacher import SourceFreeMeanTeacher  # noqa: F401
from .plain_detr import PlainDETR  # noqa: F401
from .domain_adaptive_mean_teacher import DomainAdaptiveContext, DomainAdaptiveMeanTeacher  # noqa: F401
