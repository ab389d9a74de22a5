"""The linear-Gaussian SCM of CORE-MTL's theory (Wu et al. 2026 Section 2.2, Assumption 2.2, App.
A).

Wu, Zou, Wu and Wang (2026), "CORE-MTL: Rethinking Gradient Balancing via Causal
Orthogonal Representations", arXiv:2606.02221. Latent factors ``Z_s ~ N(0, Σ_s)`` and
``Z_r ~ N(0, Σ_r^S)`` are independent; an entangled encoder returns
``Ẑ = R_ψ [Z_s; Z_r]`` (eq. 6), here the rotation by ``ψ`` in each plane
``(Z_s,i, Z_r,i)``: ``Ẑ_i = cos ψ Z_s,i + sin ψ Z_r,i`` (the coordinates the head reads,
eq. 18 for d = 1). The label is ``Y = w*ᵀ Z_s + ε`` (eq. 17); a domain shift changes only
the residual covariance ``Σ_r^S → Σ_r^T`` (diagonal here).

- :func:`ood_gap_eq27`: App. A eq. 27, the gap ``E_T − E_S`` of the source-optimal linear
  head, scalar case;
- :func:`ood_gap_population`: the same gap for the vector model from population moments
  (``β* = Σ_Ẑ⁻¹ Cov(Ẑ, Y)``, gap ``β*ᵀ sin²ψ (Σ_r^T − Σ_r^S) β*``);
- :func:`simulate_scm_gap`: Monte Carlo — fit the head by least squares on a source sample
  and measure its risks on fresh source and target samples, with a standard error.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._common.validation import check_positive_int, check_scalar, check_seed


def ood_gap_eq27(psi: float, w_star: float, sigma_r_source2: float,
                 sigma_r_target2: float) -> float:
    """001 App. A eq. 27 (``Var Z_s = 1``):
    ``(w*)² cos²ψ / (cos²ψ + sin²ψ σ²_{r,S})² · sin²ψ · (σ²_{r,T} − σ²_{r,S})``."""
    psi = float(check_scalar(psi, "psi", numbers.Real, finite=True))
    s2 = float(check_scalar(sigma_r_source2, "sigma_r_source2", numbers.Real, low=0.0))
    t2 = float(check_scalar(sigma_r_target2, "sigma_r_target2", numbers.Real, low=0.0))
    w = float(check_scalar(w_star, "w_star", numbers.Real, finite=True))
    c, s = np.cos(psi), np.sin(psi)
    return float(w**2 * c**2 / (c**2 + s**2 * s2) ** 2 * s**2 * (t2 - s2))


def _vectors(w_star: Any, var_s: Any, var_r_source: Any, var_r_target: Any
             ) -> tuple[np.ndarray, ...]:
    w = np.atleast_1d(np.asarray(w_star, dtype=np.float64))
    d = len(w)
    out = [w]
    for name, v in (("var_s", var_s), ("var_r_source", var_r_source),
                    ("var_r_target", var_r_target)):
        arr = np.broadcast_to(np.asarray(v, dtype=np.float64), (d,)).copy()
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"{name} must be finite variances >= 0, got {v!r}")
        out.append(arr)
    if not np.all(np.isfinite(w)):
        raise ValueError("w_star must be finite")
    return tuple(out)


def ood_gap_population(psi: float, w_star: Any, *, var_s: Any = 1.0,
                       var_r_source: Any = 1.0, var_r_target: Any = 2.0) -> float:
    """Population gap ``E_T(h) − E_S(h)`` of the source-optimal linear head on ``Ẑ``.

    Parameters
    ----------
    psi : float
        Mixing angle (radians); 0 is a disentangled representation.
    w_star : (d,) array-like
        ``Y = w*ᵀ Z_s + ε``.
    var_s, var_r_source, var_r_target : float or (d,) array-like
        Diagonal variances of ``Z_s``, and of ``Z_r`` in the source and target domains.
    """
    psi = float(check_scalar(psi, "psi", numbers.Real, finite=True))
    w, vs, vr_s, vr_t = _vectors(w_star, var_s, var_r_source, var_r_target)
    c, s = np.cos(psi), np.sin(psi)
    var_hat = c**2 * vs + s**2 * vr_s  # diagonal: the planes do not interact
    beta = np.divide(c * vs * w, var_hat, out=np.zeros_like(w), where=var_hat > 0)
    return float(np.sum(beta**2 * s**2 * (vr_t - vr_s)))


@dataclass(frozen=True)
class ScmGap:
    """Monte-Carlo OOD gap of a least-squares head fitted on the source domain.

    Attributes
    ----------
    psi : float
    gap : float
        Empirical ``E_T − E_S`` (fresh samples of ``n`` each).
    se : float
        Its standard error (independent source and target samples).
    population : float
        :func:`ood_gap_population` (eq. 27 when d = 1 and ``Var Z_s = 1``).
    beta : (d,) array
        The fitted head.
    n, seed : int
    """

    psi: float
    gap: float
    se: float
    population: float
    beta: np.ndarray
    n: int
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["beta"] = self.beta.tolist()
        return out


def _sample(rng: np.random.Generator, n: int, psi: float, w: np.ndarray, vs: np.ndarray,
            vr: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    zs = rng.normal(size=(n, len(w))) * np.sqrt(vs)
    zr = rng.normal(size=(n, len(w))) * np.sqrt(vr)
    y = zs @ w + noise * rng.normal(size=n)
    return np.cos(psi) * zs + np.sin(psi) * zr, y


def simulate_scm_gap(psi: float, w_star: Any = 1.0, *, var_s: Any = 1.0,
                     var_r_source: Any = 1.0, var_r_target: Any = 2.0, noise: float = 0.5,
                     n: int = 100_000, seed: int | np.random.Generator | None = 0) -> ScmGap:
    """Sample the SCM, fit ``β`` by least squares on the source, measure ``E_T − E_S``.

    Parameters
    ----------
    psi, w_star, var_s, var_r_source, var_r_target
        As :func:`ood_gap_population`.
    noise : float >= 0
        Standard deviation of ``ε``.
    n : int
        Samples of each of the three draws (fit, source test, target test).
    seed : int, numpy Generator or None
    """
    psi = float(check_scalar(psi, "psi", numbers.Real, finite=True))
    noise = float(check_scalar(noise, "noise", numbers.Real, low=0.0, finite=True))
    n = check_positive_int(n, "n")
    w, vs, vr_s, vr_t = _vectors(w_star, var_s, var_r_source, var_r_target)
    rng = check_seed(seed)
    z_fit, y_fit = _sample(rng, n, psi, w, vs, vr_s, noise)
    beta = np.linalg.lstsq(z_fit, y_fit, rcond=None)[0]
    z_s, y_s = _sample(rng, n, psi, w, vs, vr_s, noise)
    z_t, y_t = _sample(rng, n, psi, w, vs, vr_t, noise)
    e_s, e_t = (y_s - z_s @ beta) ** 2, (y_t - z_t @ beta) ** 2
    se = float(np.sqrt(e_s.var(ddof=1) / n + e_t.var(ddof=1) / n))
    return ScmGap(psi=psi, gap=float(e_t.mean() - e_s.mean()), se=se,
                  population=ood_gap_population(psi, w, var_s=vs, var_r_source=vr_s,
                                                var_r_target=vr_t),
                  beta=beta, n=n, seed=seed if isinstance(seed, (int, np.integer)) else None)


@dataclass(frozen=True)
class ScmGapGrid:
    """:func:`simulate_scm_gap` against eq. 27 over a grid of angles and residual shifts.

    Attributes
    ----------
    rows : tuple of dict
        One per (shift, ψ): ``psi``, ``var_r_source``, ``var_r_target``, ``gap``, ``se``
        (simulation), ``eq27`` (:func:`ood_gap_eq27`), ``population``
        (:func:`ood_gap_population`) and ``z = (gap − eq27) / se`` (0 when ``se`` is 0).
    w_star, noise : float
    n, seed : int
    """

    rows: tuple[dict[str, float], ...]
    w_star: float
    noise: float
    n: int
    seed: int

    def max_abs_z(self) -> float:
        return max(abs(r["z"]) for r in self.rows)

    def table(self) -> str:
        """Markdown: one line per (shift, ψ)."""
        lines = ["| ψ | σ²_r,S → σ²_r,T | simulated gap ± SE | eq. 27 | z |",
                 "|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {np.degrees(r['psi']):.1f}° | {r['var_r_source']:g} → "
                         f"{r['var_r_target']:g} | {r['gap']:.5f} ± {r['se']:.5f} | "
                         f"{round(r['eq27'], 5) + 0.0:.5f} | {r['z']:+.2f} |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "w_star": self.w_star,
                "noise": self.noise, "n": self.n, "seed": self.seed,
                "max_abs_z": self.max_abs_z()}


def scm_gap_grid(psis: Any = (0.0, np.pi / 8, np.pi / 4, np.pi / 2),
                 shifts: Any = ((0.5, 2.0), (2.0, 0.5)), *, w_star: float = 1.0,
                 noise: float = 0.5, n: int = 200_000, seed: int = 0) -> ScmGapGrid:
    """Simulate the scalar SCM (``Var Z_s = 1``) at every (shift, ψ) and compare with eq. 27.

    Parameters
    ----------
    psis : sequence of float
        Mixing angles (radians).
    shifts : sequence of (σ²_r,S, σ²_r,T)
        Residual variances in the source and target domains.
    w_star, noise, n : as :func:`simulate_scm_gap`.
    seed : int
        Cell ``i`` (in row order) draws from ``seed + i``, so the cells are independent.
    """
    seed = check_scalar(seed, "seed", numbers.Integral, low=0)
    w = float(check_scalar(w_star, "w_star", numbers.Real, finite=True))
    pairs = [tuple(float(v) for v in pair) for pair in shifts]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError(f"shifts must be a non-empty sequence of (var_r_source, "
                         f"var_r_target) pairs, got {shifts!r}")
    angles = [float(p) for p in np.atleast_1d(np.asarray(psis, dtype=np.float64))]
    if not angles:
        raise ValueError("psis is empty; pass at least one angle")
    rows = []
    for i, ((s2, t2), psi) in enumerate((pair, psi) for pair in pairs for psi in angles):
        sim = simulate_scm_gap(psi, w, var_r_source=s2, var_r_target=t2, noise=noise, n=n,
                               seed=int(seed) + i)
        eq27 = ood_gap_eq27(psi, w, s2, t2)
        rows.append({"psi": psi, "var_r_source": s2, "var_r_target": t2, "gap": sim.gap,
                     "se": sim.se, "eq27": eq27, "population": sim.population,
                     "z": (sim.gap - eq27) / sim.se if sim.se > 0 else 0.0})
    return ScmGapGrid(tuple(rows), w, float(noise), int(n), int(seed))
