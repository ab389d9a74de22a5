"""Task sets and built-in data: the inputs of every tasklens capability."""

from .metrics import METRICS, Metric, get_metric
from .splits import SplitIndices
from .tasks import TASK_KINDS, Task, infer_kind, make_task
from .taskset import Factors, TaskSet, TaskSetSplit

__all__ = [
    "METRICS",
    "TASK_KINDS",
    "Factors",
    "Metric",
    "SplitIndices",
    "Task",
    "TaskSet",
    "TaskSetSplit",
    "get_metric",
    "infer_kind",
    "make_task",
]
