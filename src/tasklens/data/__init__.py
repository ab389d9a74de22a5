"""Task sets and built-in data: the inputs of every tasklens capability.

Naming rule: a data set's name returns a :class:`TaskSet` (``sprites``, ``shapes3d``,
``mpi3d``, ``shaded_shapes``, ``multi_mnist``, ``yeast``, ``gamma_mtl``, ...); a name ending in
``_family`` returns a :class:`LinearTaskFamily` (linear tasks given by their maps, from which
``to_taskset`` draws data). Data-set-specific helpers stay in their modules: the factor grid of
a procedural data set is its module's ``GRID`` (a :class:`FactorGrid`, e.g.
``tasklens.data.dsprites.GRID``) next to its renderer (``render_sprites``, ...); image
augmentations are in :mod:`tasklens.data.transforms`.
"""

from .builtin import BUILTIN_DATASETS, load_builtin
from .colored_multi_digits import colored_multi_digits
from .corruptions import CORRUPTIONS, corrupt
from .digits import colored_digits, multi_digits, multi_mnist
from .digits_mixed import multi_digits_mixed
from .dsprites import sprites
from .factor_grid import FactorGrid
from .linear_families import (
    LinearTaskFamily,
    TaskFactors,
    correlated_family,
    correlated_pair_family,
    gamma_mtl,
    gamma_mtl_family,
    random_regression,
    random_regression_family,
    teacher_student_family,
)
from .matrix import TaskMatrix
from .metrics import Metric, get_metric
from .mpi3d_procedural import mpi3d
from .random_mlp import random_mlp_tasks
from .shaded_shapes import shaded_shapes
from .shapes3d_procedural import shapes3d
from .splits import SplitIndices
from .standardize import Standardizer
from .tasks import Task, make_task
from .taskset import Factors, TaskSet, TaskSetSplit
from .yeast import yeast  # the function (it shadows the submodule attribute)

__all__ = [
    "BUILTIN_DATASETS",
    "CORRUPTIONS",
    "FactorGrid",
    "Factors",
    "LinearTaskFamily",
    "Metric",
    "SplitIndices",
    "Standardizer",
    "Task",
    "TaskFactors",
    "TaskMatrix",
    "TaskSet",
    "TaskSetSplit",
    "colored_digits",
    "colored_multi_digits",
    "correlated_family",
    "correlated_pair_family",
    "corrupt",
    "gamma_mtl",
    "gamma_mtl_family",
    "get_metric",
    "load_builtin",
    "make_task",
    "mpi3d",
    "multi_digits",
    "multi_digits_mixed",
    "multi_mnist",
    "random_mlp_tasks",
    "random_regression",
    "random_regression_family",
    "shaded_shapes",
    "shapes3d",
    "sprites",
    "teacher_student_family",
    "yeast",
]
