"""Task sets and built-in data: the inputs of every tasklens capability."""

from .builtin import BUILTIN_DATASETS, load_builtin
from .dsprites import (
    FACTOR_LEVELS,
    FACTOR_NAMES,
    GRID_SIZE,
    codes_to_values,
    grid_codes,
    grid_factors,
    grid_index,
    render_sprite,
    render_sprites,
    sprite_grid,
    sprites,
    sprites_taskset,
)
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
from .random_mlp import random_mlp_tasks, resolve_factor_subsets
from .splits import SplitIndices
from .tasks import TASK_KINDS, Task, infer_kind, make_task
from .taskset import Factors, TaskSet, TaskSetSplit

__all__ = [
    "BUILTIN_DATASETS",
    "FACTOR_LEVELS",
    "FACTOR_NAMES",
    "GRID_SIZE",
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
    "codes_to_values",
    "correlated_task_pair",
    "correlated_tasks",
    "gamma_mtl_tasks",
    "gamma_mtl_taskset",
    "get_metric",
    "grid_codes",
    "grid_factors",
    "grid_index",
    "infer_kind",
    "load_builtin",
    "make_task",
    "random_mlp_tasks",
    "random_regression_tasks",
    "random_regression_taskset",
    "render_sprite",
    "render_sprites",
    "resolve_factor_subsets",
    "sprite_grid",
    "sprites",
    "sprites_taskset",
    "teacher_student_tasks",
    "whitened_inputs",
]
