"""Our defaults against the "Defaults and differences" table of docs/balance.md and TorchJD.

``DEFAULTS`` mirrors the table's tasklens column: a changed default fails here until the docs
and this table are updated together. Where TorchJD 0.18 has the method, our default is run on
a fixed Jacobian against TorchJD's default and the relation the table states is checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from tasklens import balance
from tests.reference import balance_reference as ref

DOCS = Path(__file__).resolve().parents[2] / "docs" / "balance.md"

DEFAULTS: dict[str, dict[str, Any]] = {
    "ew": {},
    "rlw": {"seed": 0},
    "uw": {"lr": 1e-3},
    "dwa": {"temperature": 2.0},
    "gls": {},
    "famo": {"lr": 0.025, "gamma": 1e-3, "min_losses": 0.0, "eps": 1e-8},
    "stch": {"mu": 1.0, "warmup_epochs": 4, "mode": "log", "pref": None, "ideal": None},
    "excess_mtl": {"step_size": 0.01, "warmup_steps": 1},
    "db_mtl": {"beta": 0.9, "beta_sigma": 0.0, "eps": 1e-8},
    "mgda": {"solver": "nnls", "max_iter": 250, "tol": 1e-5},
    "pcgrad": {"seed": 0},
    "cagrad": {"c": 0.4, "rescale": 1, "max_iter": 200},
    "gradvac": {"beta": 0.01, "eps": 1e-8, "seed": 0},
    "imtl_g": {},
    "nash_mtl": {},
    "aligned_mtl": {"scale_mode": "min"},
    "fairgrad": {"alpha": 1.0},
    "upgrad": {"pref": None},
    "gradnorm": {"alpha": 1.5, "lr": 0.025},
    "graddrop": {"leak": 0.0, "seed": 0},
    "moml": {"meta_lr": 0.01},
    "repmtl": {"lambda_tsr": 0.9, "lambda_csa": 0.9, "temperature": 0.5},
    # added in this release (tests/balance/test_new_methods*.py compare them with TorchJD)
    "constant": {"weights": None},
    "imtl": {"lr": 1e-3},
    "dualproj": {"pref": None},
    "config": {"pref": None},
    "pcd": {"tau": 0.02, "beta": 0.999, "eps": 1e-8},
    "cr_mogm": {"base": "mgda", "alpha": 0.9, "base_hparams": None},
    "modo": {"gamma": 0.1, "rho": 0.1},
    "sdmgrad": {"lambda_": 0.3, "lr": 10.0, "momentum": 0.5, "n_iter": 20, "pref": None},
    "moco": {"beta": 0.5, "beta_sigma": 0.5, "gamma": 0.1, "gamma_sigma": 0.5, "rho": 0.0,
             "normalize": False},
    "krum": {"n_byzantine": 0, "n_selected": 1},
    "trimmed_mean": {"trim": 1},
}


def _docs_table() -> dict[str, dict[str, Any]]:
    """{method: hparams} parsed from the tasklens column of "Defaults and differences"."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Defaults and differences", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    col = header.index("tasklens")
    table: dict[str, dict[str, Any]] = {}
    for line in rows[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        span = re.match(r"`([^`]*)`", cells[col])
        pairs = re.findall(r"(\w+)=([^,]+)(?:,|$)", span.group(1)) if span else []
        table[cells[0]] = {k: ast.literal_eval(v.strip()) for k, v in pairs}
    return table


def test_every_registered_method_is_in_the_table_with_its_defaults():
    missing = sorted(set(balance.available()) - set(DEFAULTS))
    assert not missing, (f"methods {missing} have no row in DEFAULTS; add them here and to the "
                         "'Defaults and differences' table of docs/balance.md")
    for name, expected in DEFAULTS.items():
        assert balance.get(name).hparams() == expected, name


def test_docs_table_mirrors_the_defaults():
    docs = _docs_table()
    assert sorted(docs) == sorted(DEFAULTS)
    for name, expected in DEFAULTS.items():
        assert docs[name] == expected, f"docs/balance.md row {name!r}"


# ------------------------------------------------------------------------ against TorchJD
tjd = pytest.importorskip("torchjd.aggregation", reason="torchjd (test-only extra) not installed")

K = 3
JAC = torch.as_tensor(ref.random_jacobian(K, 7, seed=11))


@pytest.mark.parametrize("name, theirs, factor", [
    ("ew", lambda: tjd.Sum(), 1),
    ("imtl_g", lambda: tjd.IMTLG(), K),
    ("aligned_mtl", lambda: tjd.AlignedMTL(), K),
])
def test_default_equals_torchjd_default_up_to_the_scale(name, theirs, factor):
    torch.testing.assert_close(balance.get(name).aggregate(JAC), factor * theirs()(JAC),
                               atol=1e-9, rtol=1e-9)


def test_fairgrad_default_equals_torchjd_at_alpha_one():  # TorchJD has no default alpha
    torch.testing.assert_close(balance.get("fairgrad").aggregate(JAC),
                               tjd.FairGrad(alpha=1.0)(JAC), atol=1e-9, rtol=1e-9)


def test_upgrad_default_is_torchjd_default_times_k_up_to_its_ridge():
    pytest.importorskip("quadprog", reason="TorchJD's UPGrad needs quadprog")
    ours, theirs = balance.get("upgrad").aggregate(JAC), K * tjd.UPGrad()(JAC)
    relative = float((ours - theirs).norm() / theirs.norm())
    assert 1e-6 < relative < 1e-2  # the 1e-4 ridge: visible, about 1e-3 of the norm


def test_mgda_default_is_exact_where_torchjd_default_stops_short():
    ours = balance.get("mgda").aggregate(JAC) / K
    theirs = tjd.MGDA()(JAC)
    assert float(ours @ ours) < float(theirs @ theirs)
    exact = ref.min_norm_hull_slsqp(JAC.numpy())
    torch.testing.assert_close(ours, torch.as_tensor(exact), atol=1e-6, rtol=1e-6)


def test_pcgrad_default_equals_torchjd_for_two_tasks():
    torch.testing.assert_close(balance.get("pcgrad").aggregate(JAC[:2]), tjd.PCGrad()(JAC[:2]))


def test_gradvac_default_beta_differs_from_torchjd_default():
    ours, same, default = balance.get("gradvac"), tjd.GradVac(beta=0.01), tjd.GradVac()
    differs = False
    for step in range(4):
        jac = torch.as_tensor(ref.random_jacobian(2, 5, seed=20 + step))
        d = ours.aggregate(jac)
        torch.testing.assert_close(d, same(jac), atol=1e-9, rtol=1e-9)
        differs |= not torch.allclose(d, default(jac), atol=1e-6, rtol=1e-6)
    assert differs  # β = 0.01 (paper) against TorchJD's 0.5


def test_excess_mtl_default_differs_from_torchjd_default():
    ours, same, default = (balance.get("excess_mtl"), tjd.ExcessMTL(0.01, n_warmup_steps=1),
                           tjd.ExcessMTL())
    jac = JAC
    first = ours.aggregate(jac)
    torch.testing.assert_close(first, jac.sum(dim=0))  # the first call only sets the baseline
    assert not torch.allclose(first, K * default(jac))  # TorchJD applies the raw risk at once
    same(jac)
    for step in range(3):
        jac = torch.as_tensor(ref.random_jacobian(K, 7, seed=40 + step))
        torch.testing.assert_close(ours.aggregate(jac), K * same(jac), atol=1e-9, rtol=1e-7)


def test_graddrop_default_equals_torchjd_default_when_signs_agree():
    jac = JAC.abs()
    torch.testing.assert_close(balance.get("graddrop").aggregate(jac), tjd.GradDrop()(jac))
