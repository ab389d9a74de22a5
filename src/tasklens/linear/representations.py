"""Representations of a linear MTL network at convergence, and how they differ from STL.

Anon. 2025 (ICLR'26 sub.), Section 5: from zero-balanced initialisations the Gram matrices of
the weights converge to representation similarity matrices (RSMs) of the data (Theorem 3,
eq. 23/24): ``W_Sᵀ W_S → V_ξ S_ξ V_ξᵀ`` and ``W_j W_jᵀ → (U_ξ S_ξ U_ξᵀ)_{jj}``, while a
single-task network trained on task ``i`` alone gives ``V_i S_i V_iᵀ`` and ``U_i S_i U_iᵀ``
(eq. 25). Their differences ``ΔUSUᵀ`` and ``ΔVSVᵀ`` compare MTL with STL without training.

Equivalently, ``V S Vᵀ = (ξᵀξ)^{1/2}`` and ``U S Uᵀ = (ξξᵀ)^{1/2}``: the RSMs do not depend
on the sign or rotation ambiguities of the SVD.

Decision: the paper defines ``ΔUSUᵀ`` for task 1 only; we give it for every task,
``ΔUSUᵀ_j = (U_ξ S_ξ U_ξᵀ)_{jj} - U_j S_j U_jᵀ``, and ``ΔVSVᵀ = V_ξ S_ξ V_ξᵀ - Σ_i V_i S_i V_iᵀ``
for any number of tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .alignment import RANK_RTOL, shared_spectrum
from .statistics import as_sigma_dict


@dataclass(frozen=True)
class ConvergenceRSMs:
    """RSMs at convergence of MTL (eq. 23/24) and of STL (eq. 25), and their differences.

    Attributes
    ----------
    task_names : tuple of str
    shared_input : (N_i, N_i) array
        ``V_ξ S_ξ V_ξᵀ``: the limit of ``W_Sᵀ W_S`` in MTL.
    output : (Σ N_io, Σ N_io) array
        ``U_ξ S_ξ U_ξᵀ``: the limit of ``W_MTL W_MTLᵀ`` (all task heads stacked).
    task_output : dict of str to (N_io, N_io) array
        Diagonal block of ``output`` for each task: the limit of ``W_j W_jᵀ``.
    stl_input : dict of str to (N_i, N_i) array
        ``V_i S_i V_iᵀ``: the limit of ``W_Sᵀ W_S`` when task ``i`` is trained alone.
    stl_output : dict of str to (N_io, N_io) array
        ``U_i S_i U_iᵀ``: the limit of ``W_i W_iᵀ`` when task ``i`` is trained alone.
    delta_output : dict of str to (N_io, N_io) array
        ``ΔUSUᵀ_j = task_output[j] - stl_output[j]``; 0 for a task orthogonal to all others.
    delta_input : (N_i, N_i) array
        ``ΔVSVᵀ = shared_input - Σ_i stl_input[i]``; 0 for mutually orthogonal tasks.
    slices : dict of str to slice
        Rows/columns of ``output`` belonging to each task.
    """

    task_names: tuple[str, ...]
    shared_input: np.ndarray
    output: np.ndarray
    task_output: dict[str, np.ndarray]
    stl_input: dict[str, np.ndarray]
    stl_output: dict[str, np.ndarray]
    delta_output: dict[str, np.ndarray]
    delta_input: np.ndarray
    slices: dict[str, slice]

    def cross_task_output(self, task_a: str, task_b: str) -> np.ndarray:
        """``(N_ao, N_bo)`` block of ``output``: the limit of ``W_a W_bᵀ``."""
        for t in (task_a, task_b):
            if t not in self.slices:
                raise KeyError(f"no task {t!r}; tasks are {list(self.task_names)}")
        return self.output[self.slices[task_a], self.slices[task_b]]

    def summary(self) -> dict[str, Any]:
        """Relative sizes of the MTL-vs-STL differences (Frobenius norms).

        Returns
        -------
        dict
            ``delta_output``: ``{task: ‖ΔUSUᵀ_j‖ / ‖U_j S_j U_jᵀ‖}``;
            ``delta_output_trace``: ``{task: tr(ΔUSUᵀ_j) / tr(U_j S_j U_jᵀ)}``, signed
            (negative: the MTL head holds weaker structure than the STL one, as for
            aligned tasks; 0 for orthogonal ones);
            ``delta_input``: ``‖ΔVSVᵀ‖ / ‖Σ_i V_i S_i V_iᵀ‖``.
        """
        stl_sum = sum(self.stl_input.values())
        return {
            "delta_output": {n: float(np.linalg.norm(self.delta_output[n])
                                      / np.linalg.norm(self.stl_output[n]))
                             for n in self.task_names},
            "delta_output_trace": {n: float(np.trace(self.delta_output[n])
                                            / np.trace(self.stl_output[n]))
                                   for n in self.task_names},
            "delta_input": float(np.linalg.norm(self.delta_input) / np.linalg.norm(stl_sum)),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_names": list(self.task_names),
            "shared_input": self.shared_input.tolist(),
            "output": self.output.tolist(),
            "stl_input": {n: m.tolist() for n, m in self.stl_input.items()},
            "stl_output": {n: m.tolist() for n, m in self.stl_output.items()},
            "delta_output": {n: m.tolist() for n, m in self.delta_output.items()},
            "delta_input": self.delta_input.tolist(),
            "summary": self.summary(),
        }


def _rsm_pair(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(V S Vᵀ, U S Uᵀ)`` of one matrix from its compact SVD."""
    u, s, vt = np.linalg.svd(sigma, full_matrices=False)
    return (vt.T * s) @ vt, (u * s) @ u.T


def convergence_rsms(sigmas: Any, *, rtol: float = RANK_RTOL) -> ConvergenceRSMs:
    """Compare MTL and STL representations at convergence, with no training.

    Anon. 2025 (ICLR'26 sub.), eq. 23-25 and the ``ΔUSUᵀ`` / ``ΔVSVᵀ`` of Section 5.
    Valid for whitened inputs and zero-balanced (or small) initial weights.

    Parameters
    ----------
    sigmas : TaskCorrelations, mapping of str to (N_io, N_i) array, or list of arrays
    rtol : float
        Passed to :func:`~tasklens.linear.alignment.shared_spectrum`.
    """
    sig = as_sigma_dict(sigmas)
    spec = shared_spectrum(sig, rtol=rtol)
    s = spec.singular_values
    shared_input = (spec.v * s) @ spec.v.T
    output = (spec.u * s) @ spec.u.T
    task_output, stl_input, stl_output, delta_output = {}, {}, {}, {}
    for name, sigma in sig.items():
        block = output[spec.slices[name], spec.slices[name]]
        vsv, usu = _rsm_pair(sigma)
        task_output[name] = block
        stl_input[name], stl_output[name] = vsv, usu
        delta_output[name] = block - usu
    delta_input = shared_input - sum(stl_input.values())
    return ConvergenceRSMs(spec.task_names, shared_input, output, task_output, stl_input,
                           stl_output, delta_output, delta_input, dict(spec.slices))
