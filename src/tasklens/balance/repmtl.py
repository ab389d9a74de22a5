"""Rep-MTL: regularising the representation-level task saliencies (Wang, Li & Xu, ICCV 2025).

The two regularisers are plain functions of the task saliencies ``S`` (K, N, d), so they can
be evaluated on their own (:func:`task_saliency_entropy`, :func:`cross_task_saliency_alignment`);
:class:`RepMTL` adds them to the equal-weighted task losses through the gradient engine.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, reference_tensor


def check_saliency(saliency: object, name: str = "saliency") -> Tensor:
    """Validate a (K, N, d) tensor of task saliencies ``S_k = ∂L_k/∂z``."""
    if not isinstance(saliency, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (K, N, d), "
                        f"got {type(saliency).__name__}")
    if saliency.ndim != 3:
        raise ValueError(
            f"{name} must have shape (K tasks, N samples, d features), got "
            f"{tuple(saliency.shape)}; RepMTL needs a flat (N, d) shared representation — "
            "flatten or pool the encoder's output"
        )
    if not saliency.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {saliency.dtype}")
    if saliency.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(saliency.shape)}); it needs at least "
                         "one task, one sample and one feature")
    if not bool(torch.isfinite(saliency.detach()).all()):
        raise ValueError(f"{name} contains NaN or infinite values; check the task losses of "
                         "this step (a diverged task) before regularising")
    return saliency


def _safe_divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` with 0 where the denominator is 0 (the numerator is 0 there
    too); the masked division keeps the gradient finite, where clamping to a tiny value would
    square it into an underflow (0/0) in the backward pass."""
    positive = denominator > 0
    return torch.where(positive, numerator / torch.where(positive, denominator, 1.0), 0.0)


def _safe_sqrt(value: Tensor) -> Tensor:
    """``sqrt(value)`` for value ≥ 0 with a finite (zero) gradient at 0."""
    positive = value > 0
    return torch.where(positive, torch.where(positive, value, 1.0).sqrt(), 0.0)


def task_saliency_entropy(saliency: Tensor) -> Tensor:
    """TSR, the task-specific saliency regulation term ``L_tsr`` (to be minimised).

    For every sample ``b`` and representation element ``j`` the magnitudes of the K task
    saliencies are normalised into a distribution over tasks, whose entropy is averaged:

    ``P_{b,j,t} = |S_{t,b,j}| / Σ_k |S_{k,b,j}|``            (arXiv:2507.21049, eq. 5)
    ``L_tsr = 1/(N d) Σ_{b,j} Σ_t −P_{b,j,t} log P_{b,j,t}``  (arXiv:2507.21049, eq. 6)

    It is 0 when each element's saliency comes from one task only and ``log K`` when every
    task's saliency has the same magnitude there.

    Decision (the paper works on conv features ``(C, H', W')``): eq. 4 first averages the
    saliency over channels and keeps one "region" per spatial position. A flat ``(N, d)``
    representation has a single position per sample, so eq. 4 would collapse each sample to
    one signed channel mean. We instead treat every element ``j`` as a region (no channel
    pooling). Numerical check (seeded, N = 64, d = 16, two tasks whose saliencies live on
    disjoint halves of ``z``, i.e. perfectly task-specific): per-element entropy 0.000,
    channel-mean entropy 0.528 (of the maximum log 2 = 0.693) — the literal reading cannot
    tell a task-specific from a shared representation, the per-element one can. For identical
    saliencies both give log 2.

    Elements where every task's saliency is exactly 0 contribute entropy 0 (``0 log 0 = 0``)
    and are still counted in the mean, as in eq. 6.

    Parameters
    ----------
    saliency : (K, N, d) tensor
        ``S_k = ∂L_k/∂z``; keep its graph to differentiate the result.

    Returns
    -------
    scalar tensor
    """
    s = check_saliency(saliency)
    magnitude = s.abs()
    prob = _safe_divide(magnitude, magnitude.sum(dim=0, keepdim=True))
    # p log p → 0 as p → 0; the masked log keeps its gradient finite there
    entropy = -torch.where(prob > 0, prob * torch.log(torch.where(prob > 0, prob, 1.0)),
                           0.0).sum(dim=0)
    return entropy.mean()



def _anchor_inner_products(s: Tensor) -> Tensor:
    """(N, N) Frobenius products ``⟨Â_b, Â_k⟩`` of the anchors ``Â_b = A_b A_bᵀ``.

    ``A_b`` (d, K) stacks sample ``b``'s K saliencies. Two exact routes: the explicit (N, d²)
    anchors, or ``⟨A_b A_bᵀ, A_k A_kᵀ⟩ = ‖A_bᵀ A_k‖²_F`` over (N, N, K, K); the smaller one
    is used.
    """
    k, n, d = s.shape
    if d * d <= n * k * k:
        anchors = torch.einsum("tbc,tbe->bce", s, s).reshape(n, d * d)
        return anchors @ anchors.T
    cross = torch.einsum("tbc,ukc->bktu", s, s)
    return cross.square().sum(dim=(2, 3))


def cross_task_saliency_alignment(saliency: Tensor, temperature: float = 0.5) -> Tensor:
    """CSA, the sample-wise cross-task saliency alignment term ``L_csa`` (to be minimised).

    With ``s_{t,b}`` (d,) the saliency of task ``t`` on sample ``b`` (arXiv:2507.21049):

    - affinity of task ``t`` (eq. 7): ``M_{t,b} = s_{t,b} s_{t,b}ᵀ`` (d, d);
    - anchor of sample ``b`` (eq. 8): ``A_b = [s_{1,b}, …, s_{K,b}]`` (d, K) (the spatial mean
      of eq. 8 is the identity for a flat ``z``), ``Â_b = A_b A_bᵀ = Σ_t M_{t,b}``;
    - ``sim`` is the cosine similarity of the flattened (L2-normalised) matrices;
    - eq. 9, positives = the B×T pairs (anchor of ``b``, affinity of task ``t`` on ``b``),
      negatives = the anchors of the other samples of the batch:

      ``L_csa = 1/(N K) Σ_b Σ_t −log[ exp(sim(Â_b, M_{t,b})/τ)
      / Σ_{k≠b} exp(sim(Â_b, Â_k)/τ) ]``.

    Every ``sim`` lies in [0, 1] (Frobenius products of PSD matrices), and
    ``sim(Â_b, M_{t,b}) = 1`` for all ``t`` exactly when sample ``b``'s task saliencies are
    parallel (aligned up to sign and scale), which minimises the positive part.

    Decisions where eq. 9 is ambiguous: its numerator carries a free task index ``t`` and
    Figure 2 counts B×T positive pairs, so we average the B·T per-pair terms (the 1/B of
    eq. 9 becomes 1/(N K)); the denominator sums the negatives only (k ≠ b), as printed —
    not the positive as well, as in SimCLR's NT-Xent. A batch of one sample has no negative,
    so the term is 0 there. Each sample's saliencies are divided by their joint norm
    ``‖A_b‖_F`` first: every ``sim`` is invariant to that scale, and it keeps the fourth
    powers of small gradients away from float underflow.

    Parameters
    ----------
    saliency : (K, N, d) tensor
        ``S_k = ∂L_k/∂z``; keep its graph to differentiate the result.
    temperature : float
        ``τ > 0`` of eq. 9.

    Returns
    -------
    scalar tensor
    """
    s = check_saliency(saliency)
    tau = check_real(temperature, "temperature", low=0.0, low_open=True)
    n = s.shape[1]
    if n < 2:
        return s.sum() * 0.0  # no negative pair: the contrast is empty (stays on the graph)
    scale = _safe_sqrt(s.square().sum(dim=(0, 2)))  # ‖A_b‖_F, (N,)
    s = _safe_divide(s, scale[None, :, None])
    gram = torch.einsum("tbc,ubc->btu", s, s)  # G_b = A_bᵀ A_b, (N, K, K)
    # ‖Â_b‖_F = ‖G_b‖_F, ⟨Â_b, M_{t,b}⟩ = ‖A_bᵀ s_t‖² = Σ_u G_b[u, t]², ‖M_{t,b}‖_F = G_b[t, t]
    anchor_norm = _safe_sqrt(gram.square().sum(dim=(1, 2)))
    positive = _safe_divide(gram.square().sum(dim=1),
                            anchor_norm[:, None] * gram.diagonal(dim1=1, dim2=2))
    negative = _safe_divide(_anchor_inner_products(s),
                            anchor_norm[:, None] * anchor_norm[None, :])
    self_pair = torch.eye(n, dtype=torch.bool, device=s.device)
    log_denominator = torch.logsumexp(
        (negative / tau).masked_fill(self_pair, float("-inf")), dim=1)
    return (log_denominator[:, None] - positive / tau).mean()



class RepMTL(BalanceMethod):
    """Rep-MTL (Wang, Li & Xu, "Rep-MTL: Unleashing the Power of Representation-level Task
    Saliency for Multi-Task Learning", ICCV 2025, arXiv:2507.21049; one of the baselines of
    Wu et al. 2026 (CORE-MTL), which gives no formula).

    Formula (equation numbers of arXiv:2507.21049v1):

    - task saliency (eq. 3): ``S_t = ∇_z L_t`` — the gradient of each task loss w.r.t. the
      shared representation, per sample, (K, N, d);
    - TSR (eqs. 4–6): ``L_tsr``, the mean entropy over tasks of the normalised saliency
      magnitudes, see :func:`task_saliency_entropy`;
    - CSA (eqs. 7–9): ``L_csa``, a sample-wise contrastive alignment of the tasks' saliency
      affinities with a per-sample anchor, see :func:`cross_task_saliency_alignment`;
    - objective (eq. 10): ``L_Rep = Σ_t L_t + λ_tsr L_tsr(S) + λ_csa L_csa(S)``.

    The regularisers are differentiable functions of ``S``; the engine takes ``S`` with
    ``create_graph=True`` and backpropagates ``L_Rep``, so the encoder receives
    ``∂(λ_tsr L_tsr + λ_csa L_csa)/∂θ_s`` through ``z`` and each head its second-order term.
    Representation level only, on a model whose heads read one shared flat ``z`` (N, d).

    Scale: the task weights are EW's, ``w = 1`` (the paper pairs Rep-MTL with EW in all its
    experiments); the regularisers are added unweighted by K.

    Head gradient: ``weighted`` — the objective is the equal-weighted ``Σ_k L_k + R(S)``: head
    ``k`` receives ``∇L_k + ∂R/∂θ_k``.

    Parameters
    ----------
    lambda_tsr : float
        ``λ_tsr ≥ 0`` of eq. 10. The paper publishes no single default: it grid-searches
        {0.7, 0.9, 1.1, 1.3, 1.5} per data set and fixes the other weight at 0.9 in its
        sensitivity study (App. D.1); we default to 0.9.
    lambda_csa : float
        ``λ_csa ≥ 0`` of eq. 10; default 0.9 (same reason).
    temperature : float
        ``τ > 0`` of eq. 9. Not published; default 0.5 (SimCLR's NT-Xent value, the
        contrastive loss the paper cites) — our choice. Since every similarity lies in [0, 1],
        ``1/τ`` bounds how far apart positive and negative logits can be.

    With ``lambda_tsr = lambda_csa = 0`` the update is exactly EW's.
    """

    name = "repmtl"
    head_gradient: ClassVar[str] = "weighted"
    # it reads neither (its weights are EW's); declaring the Gramian makes the engine take
    # the representation-level gradients without handing the (K, N·d) Jacobian around
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"representation"})
    regularizes_saliency: ClassVar[bool] = True

    def __init__(self, *, lambda_tsr: float = 0.9, lambda_csa: float = 0.9,
                 temperature: float = 0.5) -> None:
        self.lambda_tsr = check_real(lambda_tsr, "lambda_tsr", low=0.0)
        self.lambda_csa = check_real(lambda_csa, "lambda_csa", low=0.0)
        self.temperature = check_real(temperature, "temperature", low=0.0, low_open=True)

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        ref = reference_tensor(ctx)
        return torch.ones(k, dtype=ref.dtype, device=ref.device)

    def saliency_regularizer(self, saliency: Tensor, losses: Tensor) -> Tensor:
        """``λ_tsr L_tsr(S) + λ_csa L_csa(S)`` (eq. 10 without the task losses).

        Parameters
        ----------
        saliency : (K, N, d) tensor
            Task saliencies with their graph.
        losses : (K,) tensor
            The step's task losses (only their count is checked).

        Returns
        -------
        scalar tensor
        """
        s = check_saliency(saliency)
        if s.shape[0] != len(losses):
            raise ValueError(f"saliency has {s.shape[0]} tasks but losses {len(losses)}")
        total = s.new_zeros(())
        # a zero weight skips its term, so that λ = 0 is EW exactly (no 0·NaN)
        if self.lambda_tsr:
            total = total + self.lambda_tsr * task_saliency_entropy(s)
        if self.lambda_csa:
            total = total + self.lambda_csa * cross_task_saliency_alignment(s, self.temperature)
        return total
