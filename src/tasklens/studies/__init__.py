"""End-to-end studies: orchestrations that build models, train them and measure them.

They sit above every other library layer (data → models/theory → measurements → here);
nothing below imports them. :mod:`tasklens.studies.disentanglement` runs 003 §4.1–4.3.
"""

from .disentanglement import METRIC_COLUMNS, STUDY_PARTS, StudyConfig, StudyResult, run_study
from .grouping_validation import GroupingValidation, random_groupings, validate_grouping

__all__ = [
    "METRIC_COLUMNS",
    "STUDY_PARTS",
    "GroupingValidation",
    "StudyConfig",
    "StudyResult",
    "random_groupings",
    "run_study",
    "validate_grouping",
]
