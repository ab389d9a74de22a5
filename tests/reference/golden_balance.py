"""Golden directions of the balancing methods on three fixed Jacobians.

The table :data:`GOLDEN` was produced by :func:`compute_golden` — from the literal /
brute-force references of tests/reference (SLSQP in R^P, closed forms, the papers'
algorithms on vectors), never from tasklens' own output — and pasted here (10 significant
digits). ``tests/balance/test_properties.py`` checks tasklens against the table, checks the
table against a fresh :func:`compute_golden`, and, where TorchJD 0.18 is installed, against
TorchJD too. All directions are on tasklens' sum scale (EW = the plain sum).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import balance_reference as bref
from . import new_methods_reference as ref

JACOBIANS: dict[str, np.ndarray] = {
    # two conflicting tasks (g₁ᵀg₂ = −2)
    "two": np.array([[2.0, 0.0, 1.0], [-1.0, 1.5, 0.0]]),
    # three tasks in R^4, pairwise partly conflicting
    "three": np.array([[1.0, 2.0, 0.0, -1.0], [0.5, -1.0, 1.0, 0.0], [-1.0, 0.5, 0.5, 1.0]]),
    # three tasks whose plain sum conflicts with the first two (DualProj must project)
    "cone": np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.5, -1.5, 0.2]]),
    # five tasks: a tight cluster of four and one outlier (robust aggregators)
    "five": np.array([[1.0, 1.0, 0.0, 0.0], [1.1, 0.9, 0.1, 0.0], [0.9, 1.2, -0.1, 0.1],
                      [1.0, 1.0, 0.05, -0.05], [-3.0, 4.0, 2.0, 1.0]]),
}  # fmt: skip


def _upgrad(jac: np.ndarray) -> np.ndarray:
    return np.sum([bref.dual_cone_projection(jac, g) for g in jac], axis=0)


def _nash(jac: np.ndarray) -> np.ndarray:
    # the unit-ball maximiser of Σ log gᵢᵀd, rescaled: d = Σ αᵢ gᵢ with gᵢᵀd = 1/αᵢ gives
    # ‖d‖² = Σ αᵢ gᵢᵀd = K (Navon et al. 2022, Claim 3.2)
    d = bref.alpha_fair_direction(jac, 1.0)
    return np.sqrt(len(jac)) * d / np.linalg.norm(d)


def _pcd(jac: np.ndarray) -> np.ndarray:
    scales = ref.ema_scales([np.sum(jac**2, axis=1)], 0.999, 1e-8)
    return ref.pcd_direction(jac, 0.02, scales)


REFERENCES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], tuple[str, ...]]] = {
    # name: (reference direction on the sum scale, Jacobians it applies to)
    "ew": (lambda j: j.sum(axis=0), ("two", "three", "five")),
    "constant": (lambda j: j.sum(axis=0), ("two", "three")),
    "mgda": (lambda j: len(j) * bref.min_norm_hull_slsqp(j), ("two", "three", "cone")),
    "upgrad": (_upgrad, ("two", "three", "cone")),
    "dualproj": (ref.dualproj_direction, ("two", "three", "cone")),
    "cagrad": (lambda j: len(j) * bref.cagrad_primal(j, 0.4) / 1.16, ("two", "three", "cone")),
    "imtl_g": (lambda j: len(j) * bref.imtl_g_closed_form(j), ("two", "three", "cone")),
    "imtl": (lambda j: len(j) * bref.imtl_g_closed_form(j), ("two", "three")),
    "aligned_mtl": (bref.aligned_mtl_svd, ("two", "three", "cone")),
    "pcgrad": (lambda j: bref.pcgrad_vectors(j, [[1], [0]]), ("two",)),
    "gradvac": (lambda j: bref.gradvac_vectors(j, np.zeros((2, 2)), 0.01, [[1], [0]])[0],
                ("two",)),
    "nash_mtl": (_nash, ("two", "three", "cone")),
    "config": (ref.config_direction, ("two", "three", "cone")),
    "krum": (lambda j: len(j) * ref.krum_direction(j, 0, 1), ("five",)),
    "trimmed_mean": (lambda j: len(j) * ref.trimmed_mean(j, 1), ("three", "five")),
    "modo": (lambda j: len(j) * ref.modo_steps([j], 0.1, 0.1)[0], ("two", "three")),
    "sdmgrad": (lambda j: len(j) * ref.sdmgrad_steps([j], 0.3, 10.0, 0.5, 20)[0],
                ("two", "three")),
    "moco": (lambda j: len(j) * ref.moco_steps([j], 0.5, 0.5, 0.1, 0.5, 0.0)[0],
             ("two", "three")),
    "pcd": (_pcd, ("two", "three")),
}


def compute_golden() -> dict[tuple[str, str], list[float]]:
    """Every reference direction, ``{(method, jacobian name): direction}``."""
    return {
        (name, jname): [float(x) for x in fn(JACOBIANS[jname])]
        for name, (fn, jnames) in REFERENCES.items()
        for jname in jnames
    }


GOLDEN: dict[tuple[str, str], list[float]] = {
    ('ew', 'two'): [1, 1.5, 1],
    ('ew', 'three'): [0.5, 1.5, 1.5, 0],
    ('ew', 'five'): [1, 8.1, 2.05, 1.05],
    ('constant', 'two'): [1, 1.5, 1],
    ('constant', 'three'): [0.5, 1.5, 1.5, 0],
    ('mgda', 'two'): [0.5714285714, 1.714285714, 0.8571428571],
    ('mgda', 'three'): [0.2909930716, 0.6581986143, 1.780600462, 0.3394919169],
    ('mgda', 'cone'): [0.007462686567, 0.007462686567, 0.1492537313],
    ('upgrad', 'two'): [1.184615385, 2.423076923, 1.4],
    ('upgrad', 'three'): [0.7860188261, 1.889562569, 3.130481728, 0.3093300111],
    ('upgrad', 'cone'): [0.01746724891, 0.01746724891, 0.4620087336],
    ('dualproj', 'two'): [1, 1.5, 1],
    ('dualproj', 'three'): [0.5, 1.5, 1.5, 0],
    ('dualproj', 'cone'): [1.110223025e-16, 0, 0.2],
    ('cagrad', 'two'): [0.6541240774, 1.962372289, 0.9811862007],
    ('cagrad', 'three'): [0.441969919, 0.9193885139, 1.901381119, 0.234562667],
    ('cagrad', 'cone'): [-0.251856813, -0.251856813, 0.1724137738],
    ('imtl_g', 'two'): [0.6781561399, 1.66092193, 0.8927187133],
    ('imtl_g', 'three'): [0.3694195434, 0.8232603671, 1.725579878, 0.2408288929],
    ('imtl_g', 'cone'): [0.005824419863, 0.005824419863, 0.149417558],
    ('imtl', 'two'): [0.6781561399, 1.66092193, 0.8927187133],
    ('imtl', 'three'): [0.3694195434, 0.8232603671, 1.725579878, 0.2408288929],
    ('aligned_mtl', 'two'): [0.7137008328, 1.605826874, 0.8921260411],
    ('aligned_mtl', 'three'): [0.3271566832, 0.8889075577, 1.615124778, 0.2329168667],
    ('aligned_mtl', 'cone'): [-0.010466144, -0.010466144, 0.146526016],
    ('pcgrad', 'two'): [1.184615385, 2.423076923, 1.4],
    ('gradvac', 'two'): [1.184615385, 2.423076923, 1.4],
    ('nash_mtl', 'two'): [0.4786021582, 1.172179656, 0.6300276407],
    ('nash_mtl', 'three'): [0.2848755822, 0.7294685494, 1.52481855, 0.2482940374],
    ('nash_mtl', 'cone'): [0.07667784707, 0.07667784667, 1.728652948],
    ('config', 'two'): [0.6860521019, 1.680260509, 0.9031128874],
    ('config', 'three'): [0.3845919667, 0.8570724785, 1.796451137, 0.2507199719],
    ('config', 'cone'): [0.006257643393, 0.006257643393, 0.1605313176],
    ('krum', 'five'): [5, 5, 0, 0],
    ('trimmed_mean', 'three'): [1.5, 1.5, 1.5, 0],
    ('trimmed_mean', 'five'): [4.833333333, 5.333333333, 0.25, 0.1666666667],
    ('modo', 'two'): [0.7375, 1.63125, 0.9125],
    ('modo', 'three'): [0.3166666667, 1.0125, 1.6625, 0.25],
    ('sdmgrad', 'two'): [3.307692308, 0.3461538462, 1.769230769],
    ('sdmgrad', 'three'): [1.269230769, -1.961538462, 2.653846154, 0],
    ('moco', 'two'): [0.4671875, 0.76640625, 0.4890625],
    ('moco', 'three'): [0.2270833333, 0.6890625, 0.7703125, 0.03125],
    ('pcd', 'two'): [1.565745527, 1.105718696, 1.151445662],
    ('pcd', 'three'): [0.971331706, 1.740168091, 1.34169312, -0.4776916402],
}  # fmt: skip
"""Output of :func:`compute_golden`, pasted (10 significant digits)."""
