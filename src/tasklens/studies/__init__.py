"""End-to-end studies: orchestrations that build models, train them and measure them.

They sit above every other library layer (data → models/theory → measurements → here);
nothing below imports them. :mod:`tasklens.studies.disentanglement` runs 003 §4.1–4.3.
"""

from .disentanglement import METRIC_COLUMNS, STUDY_PARTS, StudyConfig, StudyResult, run_study

__all__ = ["METRIC_COLUMNS", "STUDY_PARTS", "StudyConfig", "StudyResult", "run_study"]
