"""Gradient methods on float32 Jacobians at extreme scales (×1e20, ×1e-25).

Scaling every task gradient by ``s`` (losses fixed) changes each method's output in a way
fixed by its formula; the float32 result at scale ``s`` must equal the float64 result at scale
1 transformed that way (relative tolerance: float32 rounding of the input, ~1e-7):

* weights invariant, direction × s — mgda, pcgrad, cagrad, imtl_g, aligned_mtl, upgrad
  (optimisation problems posed on G up to a global factor), graddrop (sign purities only),
  gradnorm, moml, repmtl (their weights do not read the gradients' size in ``weights``);
* weights × s⁻¹, direction invariant — nash_mtl (``G w = 1/w``);
* weights × s^(−2α/(1+α)), direction × s^((1−α)/(1+α)) — fairgrad (``G w = w^(−1/α)``);
* absolute scale — gradvac (``ε = 1e-8`` added to products of norms), db_mtl (``ε = 1e-8``
  added to norms), excess_mtl (``1e-7`` added to squared-gradient sums): their output
  legitimately depends on the units of the gradients, so they are checked for finiteness and
  against the same method on the same (float32-rounded) Jacobian in float64.

excess_mtl keeps its running K×P state in the Jacobian's dtype as the root of the sum of
squares (updated with ``hypot``), so float32 gradients at ×1e20 no longer overflow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens import balance
from tasklens.balance import BalanceContext

INVARIANT = {"mgda", "pcgrad", "cagrad", "imtl_g", "aligned_mtl", "upgrad", "graddrop",
             "gradnorm", "moml", "repmtl",
             # added in this release: cone / cosine / selection problems, IMTL-G on loss
             # scales read from the losses, SDMGrad's Gramian normalised by its mean norm
             "dualproj", "config", "krum", "trimmed_mean", "imtl", "cr_mogm", "sdmgrad"}
ABSOLUTE = {"gradvac", "db_mtl", "excess_mtl",
            # added in this release: PCD's ε = 1e-8 in its scales; MoDo / MoCo step the
            # weights by γ G λ (the papers' unnormalised step)
            "pcd", "modo", "moco"}
FAIR = {"nash_mtl": 1.0, "fairgrad": 1.0}
SCALES = (1e20, 1e-25)
#: float32 subnormal spacing: outputs pushed below the normal range lose relative precision
TINY = float(np.finfo(np.float32).smallest_subnormal)


def gradient_methods() -> list[str]:
    return [n for n in balance.available() if balance.get(n).needs_gradients]


def test_every_gradient_method_is_classified() -> None:
    assert set(gradient_methods()) == INVARIANT | ABSOLUTE | set(FAIR)


def exponents(name: str, alpha: float | None = None) -> tuple[float, float]:
    """(weight exponent, direction exponent) under J → s J."""
    if name in FAIR:
        a = FAIR[name] if alpha is None else alpha
        return -2.0 * a / (1.0 + a), (1.0 - a) / (1.0 + a)
    return 0.0, 1.0


def _jacobians(seed: int = 0) -> list[torch.Tensor]:
    """Two well-conditioned 3×20 Jacobians sharing a descent direction (Nash/FairGrad exist)."""
    gen = torch.Generator().manual_seed(seed)
    common = torch.randn(20, generator=gen, dtype=torch.float64)
    return [torch.randn(3, 20, generator=gen, dtype=torch.float64) + 2.0 * common
            for _ in range(2)]


LOSSES = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)


def _run(name: str, jacs: list[torch.Tensor], hparams: dict) -> tuple[torch.Tensor, ...]:
    """Directions (and weights, for weight methods) over two consecutive calls."""
    method = balance.get(name, **hparams)
    out = []
    for step, jac in enumerate(jacs):
        losses = LOSSES.to(jac.dtype)
        if method.output == "weights":
            ctx = BalanceContext(jacobian=jac, losses=losses, step=step)
            out.append(method.weights(ctx).double())
        out.append(method.aggregate(jac, losses=losses, step=step).double())
    return tuple(out)


def _assert_close(got: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    assert bool(torch.isfinite(got).all()), f"{what}: non-finite {got}"
    err = float((got - ref).norm())
    bound = 2e-5 * float(ref.norm()) + 8 * TINY * ref.numel()
    assert err <= bound, f"{what}: error {err:.3e} > {bound:.3e} (reference norm {ref.norm():.3e})"


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(INVARIANT | ABSOLUTE | set(FAIR)))
def test_float32_at_extreme_scale_matches_float64(name: str, scale: float) -> None:
    base = _jacobians()
    scaled32 = [(j * scale).to(torch.float32) for j in base]
    got = _run(name, scaled32, {})
    if name in ABSOLUTE:
        ref = _run(name, [j.double() for j in scaled32], {})
    else:
        e_w, e_d = exponents(name)
        ref64 = _run(name, base, {})
        is_weights = balance.get(name).output == "weights"
        factors = [scale**e_w, scale**e_d] * 2 if is_weights else [scale**e_d] * 2
        ref = tuple(r * f for r, f in zip(ref64, factors))
    for i, (g, r) in enumerate(zip(got, ref)):
        _assert_close(g, r, f"{name} at scale {scale:g}, output {i}")


@pytest.mark.parametrize("alpha", [0.5, 2.0])
@pytest.mark.parametrize("scale", SCALES)
def test_fairgrad_scale_law(alpha: float, scale: float) -> None:
    base = _jacobians(1)
    e_w, e_d = exponents("fairgrad", alpha)
    got = _run("fairgrad", [(j * scale).to(torch.float32) for j in base], {"alpha": alpha})
    ref = _run("fairgrad", base, {"alpha": alpha})
    for i, (g, r) in enumerate(zip(got, ref)):
        _assert_close(g, r * scale ** (e_w if i % 2 == 0 else e_d), f"fairgrad {alpha} {i}")


GRAMIAN_ONLY = sorted(n for n in INVARIANT | set(FAIR)
                      if balance.get(n).requires == frozenset({"gramian"}))


@pytest.mark.parametrize("scale", [1e-150, 1e-60, 1e60, 1e150])
@pytest.mark.parametrize("name", GRAMIAN_ONLY)
def test_weights_from_an_extreme_float64_gramian(name: str, scale: float) -> None:
    jac = _jacobians(2)[0]
    gram = jac @ jac.T
    e_w, _ = exponents(name)
    got = balance.get(name).weights(BalanceContext(gramian=gram * scale**2))
    ref = balance.get(name).weights(BalanceContext(gramian=gram))
    _assert_close(got, ref * scale**e_w, f"{name} from a Gramian scaled by {scale**2:g}")


def test_non_finite_output_names_method_step_and_task() -> None:
    class Broken(balance.EW):
        name = "broken"

        def weights(self, ctx: BalanceContext) -> torch.Tensor:
            return torch.tensor([1.0, float("nan"), 1.0])

    pattern = r"'broken'.*weights at step 4 \(epoch 1\).*task\(s\) \[1\]"
    with pytest.raises(ValueError, match=pattern):
        Broken().weights(BalanceContext(losses=torch.ones(3), step=4, epoch=1))
