"""Registry, declarations and input validation of tasklens.balance.

References: the issue's fixed list of names, the protocol's own invariants (declared inputs
suffice, direction methods read the Jacobian, gramian-only methods never require it), and
hand-made bad inputs that must fail with a clear message.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tasklens import balance

EXPECTED_NAMES = {
    "ew", "rlw", "uw", "dwa", "gls", "famo", "stch", "excess_mtl", "db_mtl", "mgda", "pcgrad",
    "cagrad", "gradvac", "imtl_g", "nash_mtl", "aligned_mtl", "fairgrad", "upgrad", "gradnorm",
    "graddrop", "moml", "repmtl",
    # added in this release (tests/balance/test_new_methods*.py)
    "constant", "imtl", "dualproj", "config", "pcd", "cr_mogm", "modo", "sdmgrad", "moco",
    "krum", "trimmed_mean",
}  # fmt: skip
NAMES = sorted(EXPECTED_NAMES)


def jac_and_losses(k: int = 3, p: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    jac = rng.standard_normal((k, p)) + 2.0 * rng.standard_normal(p)
    return torch.as_tensor(jac), torch.as_tensor(rng.uniform(0.5, 2.0, k))


# ----------------------------------------------------------------------------- registry
def test_registry_has_exactly_the_issue_names():
    assert set(balance.available()) == EXPECTED_NAMES
    for name in NAMES:
        method = balance.get(name)
        assert isinstance(method, balance.BalanceMethod)
        assert method.name == name
        assert isinstance(balance.METHODS[name](), type(method))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown balancing method .mgda2.*pcgrad"):
        balance.get("mgda2")
    with pytest.raises(ValueError, match="lower-case"):
        balance.get("MGDA")


def test_unknown_hparam_lists_accepted_ones():
    with pytest.raises(TypeError, match=r"\['radius'\].*accepted: c, rescale, max_iter"):
        balance.get("cagrad", radius=0.3)
    with pytest.raises(TypeError, match="accepted: none"):
        balance.get("ew", seed=0)


@pytest.mark.parametrize(
    ("name", "hparams", "error"),
    [
        ("cagrad", {"c": -1.0}, ValueError),
        ("cagrad", {"rescale": 3}, ValueError),
        ("mgda", {"solver": "cvx"}, ValueError),
        ("mgda", {"max_iter": 0}, ValueError),
        ("pcgrad", {"seed": "zero"}, TypeError),
        ("dwa", {"temperature": 0.0}, ValueError),
        ("fairgrad", {"alpha": 0.0}, ValueError),
        ("graddrop", {"leak": 1.5}, ValueError),
        ("stch", {"mu": float("nan")}, ValueError),
        ("stch", {"pref": (1.0, -1.0)}, ValueError),
        ("upgrad", {"pref": (1.0, float("inf"))}, ValueError),
        ("uw", {"lr": "fast"}, TypeError),
    ],
)
def test_bad_hparam_values(name, hparams, error):
    with pytest.raises(error, match=next(iter(hparams))):
        balance.get(name, **hparams)


@pytest.mark.parametrize("name", NAMES)
def test_declarations_are_consistent(name):
    cls = balance.METHODS[name]
    assert cls.requires <= set(balance.INPUTS)
    assert cls.levels <= set(balance.LEVELS)
    assert cls.output in balance.OUTPUTS
    needs_grad = bool(cls.requires & {"gramian", "jacobian"})
    assert bool(cls.levels) == needs_grad  # loss-only methods declare no gradient level
    if cls.output == "direction":
        assert "jacobian" in cls.requires
    assert cls.update_batch in balance.UPDATE_BATCHES
    assert cls.update_requires <= set(balance.INPUTS)
    doc = cls.__doc__ or ""
    assert "Formula" in doc and "Scale" in doc
    assert re.search(r"\b(19|20)\d\d\b", doc)  # the source paper's year
    for hp in cls.hparam_names():
        assert hp in doc or hp == "seed" or hp in ("max_iter", "tol", "eps")


@pytest.mark.parametrize("name", NAMES)
def test_declared_inputs_suffice(name):
    """Each method runs on a context holding only what it declared (+ losses, always there)."""
    jac, losses = jac_and_losses()
    method = balance.get(name)
    fields = {"losses": losses}
    if "jacobian" in method.requires:
        fields["jacobian"] = jac
    elif "gramian" in method.requires:
        fields["gramian"] = jac @ jac.T
    ctx = balance.BalanceContext(**fields, level="parameter" if method.needs_gradients else None)
    if method.output == "weights":
        w = method.weights(ctx)
        assert w.shape == (3,) and bool(torch.isfinite(w).all())
    else:
        d = method.direction(ctx)
        assert d.shape == (5,) and bool(torch.isfinite(d).all())
        with pytest.raises(TypeError, match="direction"):
            method.weights(ctx)


@pytest.mark.parametrize("name", NAMES)
def test_missing_inputs_are_reported(name):
    method = balance.get(name)
    if not method.requires - {"losses"} and "losses" not in method.requires:
        pytest.skip("reads nothing")
    jac, losses = jac_and_losses()
    ctx = balance.BalanceContext(gramian=jac @ jac.T) if "losses" in method.requires else \
        balance.BalanceContext(losses=losses)  # fmt: skip
    call = method.weights if method.output == "weights" else method.direction
    with pytest.raises(ValueError, match=r"missing|needs the jacobian"):
        call(ctx)


@pytest.mark.parametrize("name", NAMES)
def test_stateful_and_stochastic_methods_repeat_after_reset(name):
    method = balance.get(name)
    sequence = [jac_and_losses(seed=s) for s in range(3)]

    def run() -> list[torch.Tensor]:
        out = []
        for step, (jac, losses) in enumerate(sequence):
            ctx = balance.BalanceContext(losses=losses, jacobian=jac, step=step, epoch=step)
            out.append(method.direction(ctx))
            if method.post_step_update:  # a context with exactly what update() declares
                fields = {"losses": 0.9 * losses, "jacobian": 0.5 * jac}
                ctx = balance.BalanceContext(**{f: fields[f] for f in method.update_requires})
            method.update(ctx)
        return out

    first = run()
    method.reset()
    for a, b in zip(first, run(), strict=True):
        torch.testing.assert_close(a, b)


# -------------------------------------------------------------------- levels / sizes
def test_prepare_checks_level_and_task_count_before_training():
    balance.get("mgda").prepare(level="representation", num_tasks=3)
    balance.get("ew").prepare(level=None, num_tasks=1)
    balance.get("dwa").prepare(level="parameter", num_tasks=2)  # loss-only: level ignored
    with pytest.raises(ValueError, match="needs task gradients"):
        balance.get("mgda").prepare(level=None, num_tasks=3)
    with pytest.raises(ValueError, match="unknown level 'features'"):
        balance.get("mgda").prepare(level="features", num_tasks=3)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        balance.get("pcgrad").prepare(level="parameter", num_tasks=1)


def test_unsupported_level_is_rejected():
    class ParamOnly(balance.MGDA):
        levels = frozenset({"parameter"})

    with pytest.raises(ValueError, match="does not support gradients at level 'representation'"):
        ParamOnly().check_level("representation")


# ------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("name", ["mgda", "upgrad", "graddrop", "pcgrad"])
def test_bad_jacobians(name):
    method = balance.get(name)
    with pytest.raises(ValueError, match="2 dimension"):
        method.aggregate(torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="2 dimension"):
        method.aggregate(torch.ones(2, 3, 4))
    bad = torch.ones(3, 4)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        method.aggregate(bad)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        method.aggregate(torch.ones(1, 4))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        method.aggregate(np.ones((3, 4)))
    with pytest.raises(TypeError, match="floating-point"):
        method.aggregate(torch.ones(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="empty"):
        method.aggregate(torch.ones(3, 0))


def test_inconsistent_task_counts():
    with pytest.raises(ValueError, match="inconsistent numbers of tasks"):
        balance.BalanceContext(losses=torch.ones(3), jacobian=torch.ones(2, 4))
    with pytest.raises(ValueError, match="square"):
        balance.BalanceContext(gramian=torch.ones(2, 3))


@pytest.mark.parametrize("name", ["gls", "famo", "db_mtl", "dwa", "gradnorm"])
def test_non_positive_losses_are_rejected_by_log_methods(name):
    method = balance.get(name)
    jac, _ = jac_and_losses()
    ctx = balance.BalanceContext(losses=torch.tensor([1.0, 0.0, 2.0]), jacobian=jac.float())
    with pytest.raises(ValueError, match="must be > 0"):
        method.direction(ctx)
        method.update(ctx)


def test_ew_accepts_one_task_and_mgda_of_zero_gradients_is_zero():
    torch.testing.assert_close(balance.get("ew").aggregate(torch.ones(1, 3)), torch.ones(3))
    zero = torch.zeros(3, 4, dtype=torch.float64)
    for name in ["mgda", "upgrad", "imtl_g", "cagrad", "aligned_mtl", "pcgrad"]:
        torch.testing.assert_close(balance.get(name).aggregate(zero), torch.zeros(4).double())
