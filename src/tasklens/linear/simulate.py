"""Reference simulators for linear multi-task networks (Anon. 2025).

Paper: Anon. 2025 (ICLR'26 sub.), eq. 1-6.

- :func:`gradient_flow` integrates the ODE of eq. 5 for any init, non-whitened inputs and
  loss weights (scipy ``solve_ivp``, DOP853): the independent check of the closed forms.
- :func:`train_linear_mtl` runs full-batch gradient descent (eq. 3) in torch on data, with
  one or more shared layers and an optional ReLU, and records losses, network functions,
  task-gradient cosine similarities (Fig. 4 bottom) and hidden representations.

Time convention: ``t = epochs * learning_rate`` (``tau = 1`` in eq. 5; equivalently
``tau = 1 / learning_rate`` with ``t`` in epochs). Gradient descent minimises half of the eq. 2
loss, ``(1 / 2N) sum ||y - y_hat||^2``, whose gradient is exactly the right-hand side of eq. 5;
the losses it reports are the eq. 2 values.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from tasklens._common.validation import check_array, check_scalar, check_seed
from tasklens.linear._problem import check_mtl_problem

__all__ = ["GradientFlowResult", "TrainingResult", "gradient_flow", "train_linear_mtl"]


@dataclass(frozen=True)
class GradientFlowResult:
    """Trajectory of the gradient flow (eq. 5).

    Attributes
    ----------
    t : (T,) array
        Times (in the units of ``tau``).
    shared : (T, N_s, N_i) array
        ``W_S(t)``.
    heads : tuple of (T, N_io, N_s) arrays
        ``W_i(t)``.
    losses : (T, N_T) array
        ``c_i - 2 <Sigma_io, W_i W_S> + tr(W_i W_S Sigma_ii W_S^T W_i^T)`` with ``c_i`` the
        target variance when given, else ``||Sigma_io||_F^2`` (see ``gradient_flow``).
    settings : dict
        ``tau``, ``rtol``, ``atol``, ``loss_weights``, ODE statistics.
    """

    t: np.ndarray
    shared: np.ndarray
    heads: tuple[np.ndarray, ...]
    losses: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    def network_functions(self) -> list[np.ndarray]:
        """``W_i W_S(t)``: list of (T, N_io, N_i) arrays."""
        return [h @ self.shared for h in self.heads]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (nested lists)."""
        return {
            "t": self.t.tolist(),
            "shared": self.shared.tolist(),
            "heads": [h.tolist() for h in self.heads],
            "losses": self.losses.tolist(),
            "settings": dict(self.settings),
        }


def gradient_flow(
    sigmas: Sequence[Any],
    W_S0: Any,
    heads0: Sequence[Any],
    t: Any,
    *,
    input_cov: Any = None,
    loss_weights: Any = None,
    tau: float = 1.0,
    target_variance: Any = None,
    rtol: float = 1e-9,
    atol: float = 1e-14,
) -> GradientFlowResult:
    """Integrate the MTL gradient flow (Anon. 2025 (ICLR'26 sub.), eq. 5) with loss weights::

        tau dW_S/dt = sum_i w_i W_i^T (Sigma_io - W_i W_S Sigma_ii)
        tau dW_i/dt = (Sigma_io - W_i W_S Sigma_ii) W_S^T

    The shared layer follows the weighted total loss (eq. 1) and each head its own task loss,
    as in the update rule eq. 3 (so ``w_i`` does not scale the head's own update).

    Parameters
    ----------
    sigmas : list of (N_io, N_i) arrays
        Input-output correlations ``Sigma_io`` (eq. 6).
    W_S0 : (N_s, N_i) array
    heads0 : list of (N_io, N_s) arrays
        Initial weights; any init (zero-balance not needed).
    t : (T,) array
        Non-negative output times.
    input_cov : (N_i, N_i) array, optional
        Input correlation ``Sigma_ii`` (eq. 6); identity (whitened) by default.
    loss_weights : (N_T,) array, optional
        ``w_i`` of eq. 1; ones by default.
    tau : float
    target_variance : (N_T,) array, optional
        ``tr Sigma_yy,i`` for the reported losses; ``||Sigma_io||_F^2`` by default.
    rtol, atol : float
        Tolerances of DOP853.

    Returns
    -------
    GradientFlowResult
    """
    sig, ws0, heads = check_mtl_problem(sigmas, W_S0, heads0)
    n_t, (n_s, n_i) = len(sig), ws0.shape
    cov = np.eye(n_i) if input_cov is None else check_array(input_cov, "input_cov", ndim=2)
    if cov.shape != (n_i, n_i):
        raise ValueError(f"input_cov must be (N_i, N_i) = ({n_i}, {n_i}), got {cov.shape}")
    w = np.ones(n_t) if loss_weights is None else check_array(loss_weights, "loss_weights", ndim=1)
    if w.shape[0] != n_t or np.any(w < 0):
        raise ValueError(f"loss_weights needs {n_t} non-negative values, got {w.tolist()}")
    tau = check_scalar(tau, "tau", numbers.Real, low=0.0, include_low=False, finite=True)
    times = check_array(np.atleast_1d(np.asarray(t, dtype=float)), "t", ndim=1)
    if np.any(times < 0):
        raise ValueError("t must be non-negative")
    sizes = [s.shape[0] for s in sig]
    bounds = np.cumsum([0, *sizes])
    xi = np.concatenate(sig, axis=0)
    row_w = np.repeat(w, sizes)[:, None]
    n_o = xi.shape[0]

    whitened = input_cov is None  # skip the (N_i, N_i) product: it dominates wide inputs

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        ws = y[: n_s * n_i].reshape(n_s, n_i)
        W = y[n_s * n_i :].reshape(n_o, n_s)
        # Stacked per-task errors; the heads decouple by rows.
        err = xi - W @ (ws if whitened else ws @ cov)
        d_ws = W.T @ (row_w * err)
        d_w = err @ ws.T
        return np.concatenate([d_ws.ravel(), d_w.ravel()]) / tau

    y0 = np.concatenate([ws0.ravel(), np.concatenate(heads, axis=0).ravel()])
    t_end = float(times.max())
    if t_end > 0:
        uniq, inverse = np.unique(times, return_inverse=True)  # DOP853 needs increasing t_eval
        sol = solve_ivp(rhs, (0.0, t_end), y0, method="DOP853", t_eval=uniq, rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"gradient_flow: the ODE solver failed: {sol.message}")
        ys = sol.y.T[inverse.ravel()]
        nfev = int(sol.nfev)
    else:
        ys = np.repeat(y0[None], times.shape[0], axis=0)
        nfev = 0
    shared = ys[:, : n_s * n_i].reshape(-1, n_s, n_i)
    W_t = ys[:, n_s * n_i :].reshape(-1, n_o, n_s)
    head_t = tuple(W_t[:, bounds[i] : bounds[i + 1]] for i in range(n_t))
    if target_variance is None:
        const = np.array([np.sum(s**2) for s in sig])
    else:
        const = check_array(target_variance, "target_variance", ndim=1)
        if const.shape[0] != n_t:
            raise ValueError(f"target_variance needs {n_t} values, got {const.shape[0]}")
    losses = np.empty((times.shape[0], n_t))
    for i, (s, h) in enumerate(zip(sig, head_t)):
        f = h @ shared
        inner = np.einsum("ij,tij->t", s, f)
        fc = f if whitened else f @ cov
        quad = np.einsum("tij,tij->t", fc, f)
        losses[:, i] = const[i] - 2.0 * inner + quad
    settings = {"tau": tau, "rtol": rtol, "atol": atol, "loss_weights": w.tolist(), "nfev": nfev}
    return GradientFlowResult(
        t=times, shared=shared, heads=head_t, losses=losses, settings=settings
    )


# ---------------------------------------------------------------------- gradient descent
@dataclass(frozen=True)
class TrainingResult:
    """Records of :func:`train_linear_mtl` at the recorded epochs.

    Attributes
    ----------
    epochs : (E,) int array
        Number of updates done before each record (0 = the init).
    t : (E,) array
        ``epochs * learning_rate``: the gradient-flow time of eq. 5 with ``tau = 1``.
    losses : (E, N_T) array
        Eq. 2 losses ``(1/N) sum ||y_i - y_hat_i||^2`` on the training data.
    network_functions : tuple of (E, N_io, N_i) arrays, or None
        ``W_i W_S^(L) ... W_S^(1)`` (linear networks only; None with ReLU).
    cosine_shared : (E, N_T, N_T) array
        Cosine similarity of the task gradients ``grad L_i`` w.r.t. all shared parameters.
    cosine_heads : (E, N_T, N_T) array
        Cosine similarity of ``grad_{W_i} L_i`` and ``grad_{W_j} L_j`` (Fig. 4 bottom); NaN
        where the two heads have different shapes.
    representations : (E, n_probe, N_s) array
        Shared-layer outputs on the first ``n_probe`` inputs.
    task_names : tuple of str
    settings : dict
        Learning rate, epochs, depth, activation, loss weights, init, seed.
    """

    epochs: np.ndarray
    t: np.ndarray
    losses: np.ndarray
    network_functions: tuple[np.ndarray, ...] | None
    cosine_shared: np.ndarray
    cosine_heads: np.ndarray
    representations: np.ndarray
    task_names: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (nested lists; NaN kept as float NaN)."""
        return {
            "epochs": self.epochs.tolist(),
            "t": self.t.tolist(),
            "losses": self.losses.tolist(),
            "network_functions": None
            if self.network_functions is None
            else [f.tolist() for f in self.network_functions],
            "cosine_shared": self.cosine_shared.tolist(),
            "cosine_heads": self.cosine_heads.tolist(),
            "representations": self.representations.tolist(),
            "task_names": list(self.task_names),
            "settings": dict(self.settings),
        }


def _balanced_chain(
    n_in: int, n_hidden: int, depth: int, sizes: list[int], scale: float, seed: Any
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Zero-balanced deep init: ``W_l W_l^T = W_{l+1}^T W_{l+1}`` between consecutive layers."""
    rng = check_seed(seed)
    n_out = int(sum(sizes))
    r = min(n_in, n_hidden, n_out)

    def orthonormal(rows: int) -> np.ndarray:
        q, rr = np.linalg.qr(rng.standard_normal((rows, r)))
        return q * np.sign(np.diag(rr))[None, :]

    d = scale * rng.uniform(0.5, 1.5, size=r)
    bases = [orthonormal(n_in)] + [orthonormal(n_hidden) for _ in range(depth)]
    shared = [(bases[j + 1] * d) @ bases[j].T for j in range(depth)]
    W = (orthonormal(n_out) * d) @ bases[-1].T
    bounds = np.cumsum([0, *sizes])
    return shared, [W[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]


def _cosine_matrix(grads: list[Any]) -> np.ndarray:
    """Pairwise cosine similarity of flattened gradients (NaN for mismatched sizes or 0)."""
    n = len(grads)
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            if grads[i].numel() != grads[j].numel():
                continue
            ni, nj = float(grads[i].norm()), float(grads[j].norm())
            if ni > 0 and nj > 0:
                out[i, j] = float(grads[i] @ grads[j]) / (ni * nj)
    return out


class DivergenceError(ValueError):
    """Gradient descent diverged (a loss became infinite or NaN)."""


def stable_learning_rate(inputs: np.ndarray) -> float:
    """``2 / λ_max(Xᵀ X / N)``: the largest stable gradient-descent rate of linear regression.

    For the losses of :func:`train_linear_mtl` (``½ ‖Y − W X‖² / N`` per task) the Hessian of
    a single linear layer is ``Xᵀ X / N``, so gradient descent converges iff
    ``learning_rate < 2 / λ_max``. A deeper or shared network has curvature scaled by the
    norms of the other layers, so this is a guide, not a guarantee.

    Parameters
    ----------
    inputs : (N, N_i) array

    Returns
    -------
    float
        ``inf`` when every input is zero.
    """
    x = np.asarray(inputs, dtype=np.float64)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    if scale == 0.0 or not np.isfinite(scale):
        return float("inf") if scale == 0.0 else 0.0
    xs = x / scale  # λ_max of the rescaled inputs cannot overflow
    lam = float(np.linalg.eigvalsh(xs.T @ xs / x.shape[0])[-1]) * scale**2
    return 2.0 / lam if lam > 0.0 else float("inf")


def _check_not_diverged(task_losses: Sequence[Any], epoch: int, learning_rate: float,
                        inputs: np.ndarray, names: Sequence[str]) -> None:
    """Raise :class:`DivergenceError` naming the learning rate and the stable bound when a
    task loss is no longer finite."""
    values = [float(v.detach()) if hasattr(v, "detach") else float(v) for v in task_losses]
    bad = [n for n, v in zip(names, values) if not np.isfinite(v)]
    if not bad:
        return
    bound = stable_learning_rate(inputs)
    raise DivergenceError(
        f"gradient descent diverged at epoch {epoch}: the loss of task(s) {bad} is "
        f"{[v for v in values if not np.isfinite(v)][:3]} with learning_rate={learning_rate:g}; "
        f"linear regression on these inputs is stable only for learning_rate < "
        f"2/λ_max(XᵀX/N) = {bound:.4g} (deeper networks and larger weights need less): "
        "lower learning_rate"
    )


def train_linear_mtl(
    inputs: Any,
    targets: Sequence[Any] | dict[str, Any],
    n_hidden: int,
    *,
    learning_rate: float = 1e-2,
    epochs: int = 1000,
    depth: int = 1,
    activation: str | None = None,
    loss_weights: Any = None,
    init: str = "zero_balanced",
    init_scale: float = 1e-2,
    weights: tuple[Sequence[Any], Sequence[Any]] | None = None,
    record_every: int = 1,
    n_probe: int = 64,
    seed: int | np.random.Generator | None = 0,
    device: Any = "cpu",
) -> TrainingResult:
    """Full-batch gradient descent on a hard-parameter-sharing network (Anon. 2025, eq. 1-4).

    ``h = phi(W_S^(L) ... phi(W_S^(1) x))``, ``y_hat_i = W_i h`` with ``phi`` the identity or
    ReLU. Each epoch is one update (eq. 3): shared layers step along
    ``sum_i w_i grad (L_i / 2)`` and head ``i`` along ``grad_{W_i} (L_i / 2)``, with ``L_i``
    the eq. 2 loss. The factor 1/2 makes one step of ``learning_rate`` equal to a time step
    ``dt = learning_rate`` of eq. 5 (``tau = 1``): ``t = epochs * learning_rate``. For a
    linear network, whitened inputs and small learning rates the records follow
    :class:`~tasklens.linear.dynamics.MTLDynamics` (checked in the tests).

    Parameters
    ----------
    inputs : (N, N_i) array
    targets : list of (N, N_io) arrays or dict name -> array
        One target matrix per task (a 1-d array is one output).
    n_hidden : int
        Width ``N_s`` of every shared layer.
    learning_rate : float
    epochs : int
        Number of updates.
    depth : int
        Number of shared layers ``L >= 1``.
    activation : {None, "relu"}
        Applied after every shared layer.
    loss_weights : (N_T,) array, optional
        ``w_i`` of eq. 1 (shared layers only, as in eq. 3); ones by default.
    init : {"zero_balanced", "gaussian"}
        Zero-balanced between consecutive layers (A2) with singular values in
        ``[0.5, 1.5] * init_scale``, or i.i.d. ``N(0, init_scale^2)`` entries.
    init_scale : float
    weights : (shared, heads), optional
        Explicit initial weights: shared ``(N_s, N_i)``, ``(N_s, N_s)``... and heads
        ``(N_io, N_s)``; overrides ``init``.
    record_every : int
        Record every this many epochs (the init and the last epoch always).
    n_probe : int
        Number of inputs whose hidden representation is recorded.
    seed : int, Generator or None
    device : str or torch.device

    Returns
    -------
    TrainingResult

    Raises
    ------
    DivergenceError
        (a ValueError) When a loss becomes infinite or NaN (learning rate too large); the
        message gives :func:`stable_learning_rate`.
    """
    x_np, names, ys = _check_targets(inputs, targets)
    n_t, n_in = len(ys), x_np.shape[1]
    sizes = [y.shape[1] for y in ys]
    _check_options(n_hidden, epochs, depth, record_every, activation, init, learning_rate)
    w = np.ones(n_t) if loss_weights is None else check_array(loss_weights, "loss_weights", ndim=1)
    if w.shape[0] != n_t or np.any(w < 0):
        raise ValueError(f"loss_weights needs {n_t} non-negative values, got {w.tolist()}")
    if weights is not None:
        shared_np, heads_np = _explicit_weights(weights, n_in, sizes)
        depth = len(shared_np)
    else:
        shared_np, heads_np = _initial_weights(init, n_in, n_hidden, depth, sizes, init_scale,
                                               seed)
    rec = _descend(x_np, ys, shared_np, heads_np, w, names, learning_rate=learning_rate,
                   epochs=epochs, activation=activation, record_every=record_every,
                   n_probe=n_probe, device=device)
    ep = np.asarray(rec.epochs, dtype=np.int64)
    settings = {
        "learning_rate": learning_rate,
        "epochs": int(epochs),
        "depth": int(depth),
        "n_hidden": int(n_hidden),
        "activation": activation,
        "loss_weights": w.tolist(),
        "init": "explicit" if weights is not None else init,
        "init_scale": init_scale,
        "seed": seed if isinstance(seed, (int, type(None))) else "generator",
        "time_convention": "t = epochs * learning_rate (tau = 1 in eq. 5)",
    }
    return TrainingResult(
        epochs=ep,
        t=ep * learning_rate,
        losses=np.asarray(rec.losses),
        network_functions=None if activation is not None else tuple(np.stack(f)
                                                                    for f in rec.funcs),
        cosine_shared=np.stack(rec.cos_shared),
        cosine_heads=np.stack(rec.cos_heads),
        representations=np.stack(rec.reps),
        task_names=names,
        settings=settings,
    )


def _check_targets(inputs: Any, targets: Sequence[Any] | dict[str, Any]
                   ) -> tuple[np.ndarray, tuple[str, ...], list[np.ndarray]]:
    """``(inputs, task names, (N, N_io) targets)``, checked."""
    x_np = check_array(inputs, "inputs", ndim=2)
    if isinstance(targets, dict):
        names = tuple(str(k) for k in targets)
        target_list = list(targets.values())
    else:
        target_list = list(targets)
        names = tuple(f"task_{i}" for i in range(len(target_list)))
    if not target_list:
        raise ValueError("targets is empty; pass one (N, N_io) target array per task")
    ys = []
    for name, y in zip(names, target_list):
        arr = check_array(y, f"targets[{name!r}]", ndim=(1, 2))
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.shape[0] != x_np.shape[0]:
            raise ValueError(
                f"targets[{name!r}] has {arr.shape[0]} rows but inputs has {x_np.shape[0]}"
            )
        ys.append(arr)
    return x_np, names, ys


def _check_options(n_hidden: Any, epochs: Any, depth: Any, record_every: Any,
                   activation: Any, init: Any, learning_rate: Any) -> None:
    for name, value in (("n_hidden", n_hidden), ("epochs", epochs), ("depth", depth)):
        check_scalar(value, name, numbers.Integral, low=0 if name == "epochs" else 1)
    check_scalar(record_every, "record_every", numbers.Integral, low=1)
    if activation not in (None, "relu"):
        raise ValueError(f"unknown activation {activation!r}; choose None or 'relu'")
    if init not in ("zero_balanced", "gaussian"):
        raise ValueError(f"unknown init {init!r}; choose 'zero_balanced' or 'gaussian'")
    check_scalar(learning_rate, "learning_rate", numbers.Real, low=0.0, include_low=False,
                 finite=True)


def _explicit_weights(weights: tuple[Sequence[Any], Sequence[Any]], n_in: int,
                      sizes: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    shared_np = [check_array(m, f"weights[0][{j}]", ndim=2) for j, m in enumerate(weights[0])]
    heads_np = [check_array(m, f"weights[1][{i}]", ndim=2) for i, m in enumerate(weights[1])]
    dims = [n_in] + [m.shape[0] for m in shared_np]
    for j, m in enumerate(shared_np):
        if m.shape[1] != dims[j]:
            raise ValueError(f"weights[0][{j}] must have {dims[j]} columns, got {m.shape}")
    if len(heads_np) != len(sizes) or any(h.shape != (s, dims[-1])
                                          for h, s in zip(heads_np, sizes)):
        raise ValueError(f"weights[1] must hold {len(sizes)} heads of shapes (N_io, {dims[-1]})")
    return shared_np, heads_np


def _initial_weights(init: str, n_in: int, n_hidden: int, depth: int, sizes: list[int],
                     init_scale: float, seed: int | np.random.Generator | None
                     ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if init == "zero_balanced":
        return _balanced_chain(n_in, n_hidden, depth, sizes, init_scale, seed)
    rng = check_seed(seed)
    dims = [n_in] + [n_hidden] * depth
    shared_np = [init_scale * rng.standard_normal((dims[j + 1], dims[j])) for j in range(depth)]
    heads_np = [init_scale * rng.standard_normal((s, n_hidden)) for s in sizes]
    return shared_np, heads_np


@dataclass
class _Records:
    """What :func:`train_linear_mtl` records every ``record_every`` epochs."""

    epochs: list[int] = field(default_factory=list)
    losses: list[list[float]] = field(default_factory=list)
    cos_shared: list[np.ndarray] = field(default_factory=list)
    cos_heads: list[np.ndarray] = field(default_factory=list)
    reps: list[np.ndarray] = field(default_factory=list)
    funcs: list[list[np.ndarray]] = field(default_factory=list)


def _hidden(inp: Any, shared: list[Any], activation: str | None) -> Any:
    import torch

    h = inp
    for layer in shared:
        h = h @ layer.T
        if activation == "relu":
            h = torch.relu(h)
    return h


def _record(rec: _Records, epoch: int, task_losses: list[Any], grads: list[Any],
            shared: list[Any], heads: list[Any], probe: Any, activation: str | None) -> None:
    import torch

    with torch.no_grad():
        rec.epochs.append(epoch)
        rec.losses.append([float(v) for v in task_losses])
        g_shared = [torch.cat([g.reshape(-1) for g in gs[:-1]]) for gs in grads]
        rec.cos_shared.append(_cosine_matrix(g_shared))
        rec.cos_heads.append(_cosine_matrix([gs[-1].reshape(-1) for gs in grads]))
        rec.reps.append(_hidden(probe, shared, activation).cpu().numpy())
        if activation is None:
            prod = shared[0]
            for layer in shared[1:]:
                prod = layer @ prod
            for i, W in enumerate(heads):
                rec.funcs[i].append((W @ prod).cpu().numpy())


def _descend(x_np: np.ndarray, ys: list[np.ndarray], shared_np: list[np.ndarray],
             heads_np: list[np.ndarray], w: np.ndarray, names: tuple[str, ...], *,
             learning_rate: float, epochs: int, activation: str | None, record_every: int,
             n_probe: int, device: Any) -> _Records:
    """The full-batch gradient descent of :func:`train_linear_mtl`, recorded."""
    import torch

    opts = {"dtype": torch.float64, "device": device}
    x = torch.as_tensor(x_np, **opts)
    y_t = [torch.as_tensor(y, **opts) for y in ys]
    shared = [torch.tensor(m, **opts, requires_grad=True) for m in shared_np]
    heads = [torch.tensor(h, **opts, requires_grad=True) for h in heads_np]
    probe = x[: min(n_probe, x.shape[0])]
    n_samples, n_t = x.shape[0], len(ys)
    rec = _Records(funcs=[[] for _ in range(n_t)])
    for epoch in range(epochs + 1):
        h = _hidden(x, shared, activation)
        task_losses = [((y - h @ W.T) ** 2).sum() / n_samples for y, W in zip(y_t, heads)]
        _check_not_diverged(task_losses, epoch, learning_rate, x_np, names)
        grads = [
            torch.autograd.grad(0.5 * loss, [*shared, W], retain_graph=True)
            for loss, W in zip(task_losses, heads)
        ]
        if epoch % record_every == 0 or epoch == epochs:
            _record(rec, epoch, task_losses, grads, shared, heads, probe, activation)
        if epoch == epochs:
            break
        with torch.no_grad():
            for j, layer in enumerate(shared):
                layer -= learning_rate * sum(float(w[i]) * grads[i][j] for i in range(n_t))
            for i, W in enumerate(heads):
                W -= learning_rate * grads[i][-1]
    return rec
