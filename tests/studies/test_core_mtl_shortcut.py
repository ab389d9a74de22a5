"""Shortcut stress test (Wu et al. 2026, App. I): shape of the result, and its numbers equal
a direct Trainer run built by hand (an independent path to the same training)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from tasklens.data import colored_digits
from tasklens.nn import dual_stream_for, hps_for
from tasklens.studies.core_mtl_shortcut import (
    _train,
    save_core_mtl_figures,
    save_shortcut,
    shortcut_stress_test,
)
from tasklens.train import Trainer, evaluate

N, EPOCHS, SEED = 120, 1, 1


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("shortcut")
    return out, shortcut_stress_test(out, methods=("core_mtl", "ew"), seeds=(SEED,),
                                     epochs=EPOCHS, n=N, progress=False)


def _direct(method: str) -> dict[str, dict[str, float]]:
    """The documented protocol written out: all N digits (data seed 0) in both domains,
    a 75/25 split drawn with the run's seed, Adam lr 3e-3, batch 64."""
    src = colored_digits(N, domain="source", seed=0)
    tgt = colored_digits(N, domain="target", seed=0).encode_like(src)
    split = src.split(0.25, seed=SEED)
    arch = {"channels": (16, 32), "head_hidden": 32, "head_depth": 2, "seed": SEED}
    if method == "core_mtl":
        model = dual_stream_for(split.train, feature_dim=64, semantic_dim=32, residual_dim=8,
                                grounding="soft", **arch)
    else:
        model = hps_for(split.train, code_dim=32, **arch)
    Trainer(model, split.train, "ew", batch_size=64, lr=3e-3, seed=SEED,
            progress=False).fit(EPOCHS)
    target_test = tgt.subset(split.indices.test)
    return {d: {"digit": evaluate(model, ts)["digit"]["accuracy"],
                "parity": evaluate(model, ts)["parity"]["binary_accuracy"]}
            for d, ts in (("source", split.test), ("target", target_test))}


def test_table_shape_and_ranges(quick) -> None:
    _, result = quick
    lines = result.table().splitlines()
    assert len(lines) == 2 + 2 and lines[2].startswith("| CORE-MTL (soft) | 1/1 |")
    assert result.failed == {}
    for m in ("core_mtl", "ew"):
        for task in ("digit", "parity"):
            s = result.summary[m][task]
            assert 0.0 <= s["source"][0] <= 1.0 and 0.0 <= s["target"][0] <= 1.0
            assert s["gap"][0] == pytest.approx(s["source"][0] - s["target"][0], abs=1e-12)
            assert s["gap"][1] == 0.0  # one seed: no spread
    assert result.smallest_gap() in ("core_mtl", "ew")
    json.dumps(result.to_dict())


@pytest.mark.parametrize("method", ["core_mtl", "ew"])
def test_numbers_equal_a_direct_trainer_run(quick, method: str) -> None:
    _, result = quick
    direct = _direct(method)
    got = result.per_seed[method][SEED]
    for domain in ("source", "target"):
        for task in ("digit", "parity"):
            # 30 test digits: one prediction off moves an accuracy by 1/30
            assert got[domain][task] == pytest.approx(direct[domain][task], abs=1e-9)


def test_rerun_resumes_and_save_writes_files(quick) -> None:
    out, result = quick
    again = shortcut_stress_test(out, methods=("core_mtl", "ew"), seeds=(SEED,),
                                 epochs=EPOCHS, n=N, progress=False)
    assert again.per_seed == result.per_seed
    saved = save_shortcut(again, out)
    assert Path(saved.files["figure"]).read_bytes()[:4] == b"\x89PNG"
    assert json.loads(Path(saved.files["json"]).read_text())["methods"] == ["core_mtl", "ew"]


def test_core_mtl_figures_come_from_the_runs_model(quick, tmp_path: Path) -> None:
    _, result = quick
    # the figures retrain the first seed's model: the same weights as its run
    model, src_test, _ = _train("core_mtl", SEED, dict(result.settings))
    assert evaluate(model, src_test)["digit"]["accuracy"] == pytest.approx(
        result.per_seed["core_mtl"][SEED]["source"]["digit"], abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = save_core_mtl_figures(result, tmp_path, n_images=4)
    assert sorted(files) == ["reconstructions", "swaps"]
    for path in files.values():
        assert Path(path).read_bytes()[:4] == b"\x89PNG"
    without = save_core_mtl_figures(
        shortcut_stress_test(tmp_path / "ew", methods=("ew",), seeds=(SEED,), epochs=EPOCHS,
                             n=N, progress=False), tmp_path)
    assert without == {}


@pytest.mark.parametrize("kwargs, word", [
    ({"methods": ("ew", "nope")}, "methods"), ({"methods": ()}, "methods"),
    ({"seeds": (0, 0)}, "seeds"), ({"seeds": (-1,)}, "seeds"), ({"epochs": 0}, "epochs"),
    ({"n": 10}, "n"), ({"lr": 0.0}, "lr")])
def test_bad_arguments(tmp_path: Path, kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        shortcut_stress_test(tmp_path, **kwargs)


def test_a_failed_run_is_reported_and_left_out_of_the_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tasklens.studies.core_mtl_shortcut as mod

    build = mod.build_model

    def flaky(method: str, train, seed: int):
        if seed == 1:
            raise ValueError("boom for seed 1")
        return build(method, train, seed)

    monkeypatch.setattr(mod, "build_model", flaky)  # the serial backend runs in-process
    result = shortcut_stress_test(tmp_path, methods=("ew",), seeds=(0, 1), epochs=1, n=80,
                                  progress=False)
    assert set(result.per_seed["ew"]) == {0} and "boom" in result.failed["ew"][1]
    only = result.per_seed["ew"][0]
    assert result.summary["ew"]["digit"]["source"] == (only["source"]["digit"], 0.0)
    assert "| EW | 1/2 |" in result.table()


def test_colored_multi_digits_run_equals_a_direct_trainer_run(tmp_path: Path) -> None:
    """dataset="colored_multi_digits": train on the pool's training part, test on unseen
    digits in both colour maps — the documented protocol written out by hand."""
    from tasklens.data import colored_multi_digits

    n = 90
    result = shortcut_stress_test(tmp_path, methods=("ew",), seeds=(SEED,), epochs=1, n=n,
                                  progress=False, dataset="colored_multi_digits")
    assert set(result.summary["ew"]) == {"left", "right"}
    assert result.table().splitlines()[0].startswith("| method | runs | left source")
    train = colored_multi_digits(n, "source", seed=SEED, pool_part="train")
    model = hps_for(train, code_dim=32, channels=(16, 32), head_hidden=32, head_depth=2,
                    seed=SEED)
    Trainer(model, train, "ew", batch_size=64, lr=3e-3, seed=SEED, progress=False).fit(1)
    for domain in ("source", "target"):
        test = colored_multi_digits(n // 3, domain, seed=10_000 + SEED,
                                    pool_part="test").encode_like(train)
        metrics = evaluate(model, test)
        for task in ("left", "right"):
            assert result.per_seed["ew"][SEED][domain][task] == pytest.approx(
                metrics[task]["accuracy"], abs=1e-9)
    json.dumps(result.to_dict())
    with pytest.raises(ValueError, match="dataset"):
        shortcut_stress_test(tmp_path, methods=("ew",), seeds=(0,), dataset="mnist")


def test_core_mtl_builds_on_colored_multi_digits() -> None:
    """The default canvas (16×16) is one CORE-MTL's convolutional decoder accepts."""
    from tasklens.data import colored_multi_digits
    from tasklens.studies.core_mtl_shortcut import build_model

    ts = colored_multi_digits(20, seed=0)
    model = build_model("core_mtl", ts, seed=0)
    x = next(iter(ts.dataloader(4, shuffle=False)))[0]
    assert model(x)["left"].shape == (4, 10)
