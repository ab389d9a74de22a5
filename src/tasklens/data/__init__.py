"""Task sets and built-in data: the inputs of every tasklens capability."""

from .builtin import BUILTIN_DATASETS, load_builtin
from .colored_multi_digits import colored_multi_digits
from .digits import (
    DOMAINS,
    MULTI_VARIANTS,
    PALETTE,
    PLACEMENTS,
    colored_digits,
    count_distinct_pairs,
    multi_digits,
    multi_mnist,
    target_color_permutation,
    zca_whiten,
)
from .digits_mixed import multi_digits_mixed
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
from .idx import load_mnist_idx, read_idx
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
from .mpi3d_procedural import mpi3d, mpi3d_grid, mpi3d_index, render_mpi3d
from .random_mlp import random_mlp_tasks, resolve_factor_subsets
from .shaded_shapes import nuisance_level_split, render_shaded_shapes, shaded_shapes
from .shapes3d_procedural import render_shapes3d, shapes3d, shapes3d_grid, shapes3d_index
from .splits import SplitIndices
from .standardize import Standardizer
from .tasks import TASK_KINDS, Task, infer_kind, make_task
from .taskset import Factors, TaskSet, TaskSetSplit
from .transforms import (
    ColorJitter,
    Compose,
    GaussianNoise,
    RandomCrop,
    RandomHorizontalFlip,
    Transform,
)
from .yeast import yeast  # the function (it shadows the submodule attribute)

__all__ = [
    "BUILTIN_DATASETS",
    "DOMAINS",
    "FACTOR_LEVELS",
    "FACTOR_NAMES",
    "GRID_SIZE",
    "METRICS",
    "MULTI_VARIANTS",
    "NORMALIZATIONS",
    "PALETTE",
    "PLACEMENTS",
    "REGIMES",
    "TASK_KINDS",
    "ColorJitter",
    "Compose",
    "Factors",
    "GaussianNoise",
    "LinearTaskFamily",
    "Metric",
    "RandomCrop",
    "RandomHorizontalFlip",
    "SplitIndices",
    "Standardizer",
    "Task",
    "TaskFactors",
    "TaskMatrix",
    "TaskSet",
    "TaskSetSplit",
    "Transform",
    "codes_to_values",
    "colored_digits",
    "colored_multi_digits",
    "correlated_task_pair",
    "correlated_tasks",
    "count_distinct_pairs",
    "gamma_mtl_tasks",
    "gamma_mtl_taskset",
    "get_metric",
    "grid_codes",
    "grid_factors",
    "grid_index",
    "infer_kind",
    "load_builtin",
    "load_mnist_idx",
    "make_task",
    "mpi3d",
    "mpi3d_grid",
    "mpi3d_index",
    "multi_digits",
    "multi_digits_mixed",
    "multi_mnist",
    "nuisance_level_split",
    "random_mlp_tasks",
    "random_regression_tasks",
    "random_regression_taskset",
    "read_idx",
    "render_mpi3d",
    "render_shaded_shapes",
    "render_shapes3d",
    "render_sprite",
    "render_sprites",
    "resolve_factor_subsets",
    "shaded_shapes",
    "shapes3d",
    "shapes3d_grid",
    "shapes3d_index",
    "sprite_grid",
    "sprites",
    "sprites_taskset",
    "target_color_permutation",
    "teacher_student_tasks",
    "whitened_inputs",
    "yeast",
    "zca_whiten",
]
