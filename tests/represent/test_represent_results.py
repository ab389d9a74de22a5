"""Result types of the representation metrics: frozen, ``to_dict()``, ``seed`` naming."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tasklens.represent import (
    DCIResult,
    IRSResult,
    ModularityExplicitnessResult,
    RepresentationEvaluation,
    dci,
    evaluate_representation,
    irs,
    linear_code_source,
    modularity_explicitness,
)

LEVELS = (3, 4, 5)


def _arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    f = np.stack([rng.integers(0, lv, size=120) for lv in LEVELS], axis=1)
    c = f + 0.1 * rng.standard_normal(f.shape)
    return c[:80], f[:80], c[80:], f[80:]


def test_results_are_frozen_and_serialise():
    c_tr, f_tr, c_te, f_te = _arrays()
    d = dci(c_tr, f_tr, c_te, f_te, seed=0, n_estimators=5)
    me = modularity_explicitness(c_tr, f_tr, c_te, f_te)
    r = irs(c_tr, f_tr)
    assert isinstance(d, DCIResult) and isinstance(me, ModularityExplicitnessResult)
    assert isinstance(r, IRSResult)
    for res in (d, me, r):
        with pytest.raises(dataclasses.FrozenInstanceError):
            res.__setattr__(dataclasses.fields(res)[0].name, 0.0)
        plain = res.to_dict()
        json.dumps(plain)  # arrays became lists
        # the old dict access and the dict agree field by field
        for key in plain:
            assert np.array_equal(np.asarray(res[key]), np.asarray(plain[key]))
        with pytest.raises(KeyError, match="no field"):
            res["nope"]
    assert r.to_dict()["per_code"] == r.per_code.tolist()


def test_seed_is_the_name_and_random_state_a_deprecated_alias():
    c_tr, f_tr, c_te, f_te = _arrays(1)
    new = dci(c_tr, f_tr, c_te, f_te, seed=3, n_estimators=5)
    with pytest.warns(DeprecationWarning, match="seed="):
        old = dci(c_tr, f_tr, c_te, f_te, random_state=3, n_estimators=5)
    assert old == new  # dataclass equality: same seed, same trees, same numbers
    with pytest.raises(TypeError, match="seed= only"):
        dci(c_tr, f_tr, c_te, f_te, seed=3, random_state=3, n_estimators=5)
    me = modularity_explicitness(c_tr, f_tr, c_te, f_te, seed=0)
    with pytest.warns(DeprecationWarning):
        assert modularity_explicitness(c_tr, f_tr, c_te, f_te, random_state=0) == me
    # default seed of modularity_explicitness stays 0
    assert modularity_explicitness(c_tr, f_tr, c_te, f_te) == me


def test_evaluate_representation_returns_a_result_with_the_old_layout():
    src, fn = linear_code_source(LEVELS, 3, noise=0.01, mixing="identity")
    out = evaluate_representation(fn, src, ("mig", "irs", "modularity_explicitness"), seed=0,
                                  num_train=200, num_test=100)
    assert isinstance(out, RepresentationEvaluation)
    plain = out.to_dict()
    assert set(plain) == {"mig", "irs", "modularity_explicitness", "settings"}
    assert set(plain["irs"]) == {"irs", "num_active_dims"}
    assert plain["modularity_explicitness"] == out["modularity_explicitness"].to_dict()
    assert out["mig"] == out.scores["mig"] and out["settings"]["num_train"] == 200
    json.dumps(plain)
    with pytest.raises(KeyError, match="no metric"):
        out["dci"]
