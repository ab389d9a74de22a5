"""Task sets and built-in data: the inputs of every tasklens capability."""

from .builtin import BUILTIN_DATASETS, load_builtin
from .linear_families import (
    NORMALIZATIONS,
    REGIMES,
    LinearTaskFamily,
    TaskFactors,
    correlated_task_pair,
    correlated_tasks,
    gamma_mtl_tasks,
    gamma_mtl_taskset,
    random_regression_tasks,
    random_regression_taskset,
    teacher_student_tasks,
    whitened_inputs,
)
from .matrix import TaskMatrix
from .metrics import METRICS, Metric, get_metric
from .splits import SplitIndices
from .tasks import TASK_KINDS, Task, infer_kind, make_task
from .taskset import Factors, TaskSet, TaskSetSplit

__all__ = [
    "BUILTIN_DATASETS",
    "METRICS",
    "NORMALIZATIONS",
    "REGIMES",
    "TASK_KINDS",
    "Factors",
    "LinearTaskFamily",
    "Metric",
    "SplitIndices",
    "Task",
    "TaskFactors",
    "TaskMatrix",
    "TaskSet",
    "TaskSetSplit",
    "correlated_task_pair",
    "correlated_tasks",
    "gamma_mtl_tasks",
    "gamma_mtl_taskset",
    "get_metric",
    "infer_kind",
    "load_builtin",
    "make_task",
    "random_regression_tasks",
    "random_regression_taskset",
    "teacher_student_tasks",
    "whitened_inputs",
]
