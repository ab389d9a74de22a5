"""TaskSet standardisation (training statistics only), the targets property, the kind warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tasklens.data import TaskSet
from tasklens.data.standardize import Standardizer
from tasklens.nn import TaskPrediction


def _taskset(n: int = 40) -> TaskSet:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -2.0]
    x[:, 2] = 7.0  # a constant column: centred, not divided by zero
    y2 = np.stack([x[:, 0] * 4 + 1, x[:, 1] ** 2], axis=1)
    return TaskSet.from_arrays(x, {"r": x[:, 1] * 3 - 5, "r2": y2,
                                   "c": (x[:, 0] > 0).astype(np.int64)},
                               kinds={"r": "regression", "r2": "regression"})


def _hand_stats(rows: list[list[float]] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std by explicit sums (the reference)."""
    a = np.asarray(rows, dtype=np.float64)
    n = a.shape[0]
    mean = sum(a[i] for i in range(n)) / n
    var = sum((a[i] - mean) ** 2 for i in range(n)) / n
    std = np.sqrt(var)
    return mean, np.where(std > 0, std, 1.0)


def test_split_standardises_every_part_with_training_statistics_only() -> None:
    ts = _taskset()
    raw = ts.split(0.25, 0.25, seed=1)
    sp = ts.split(0.25, 0.25, seed=1, standardize=True)
    x_train = ts.inputs[sp.indices.train].astype(np.float64)
    mean, std = _hand_stats(x_train)
    assert std[2] == 1.0
    for part, raw_part in ((sp.train, raw.train), (sp.val, raw.val), (sp.test, raw.test)):
        np.testing.assert_allclose(part.inputs, (raw_part.inputs - mean) / std, atol=1e-5)
        r_mean, r_std = _hand_stats(ts["r"].targets[sp.indices.train].astype(np.float64))
        np.testing.assert_allclose(part["r"].targets, (raw_part["r"].targets - r_mean) / r_std,
                                   atol=1e-5)
        r2_mean, r2_std = _hand_stats(ts["r2"].targets[sp.indices.train])
        np.testing.assert_allclose(part["r2"].targets,
                                   (raw_part["r2"].targets - r2_mean) / r2_std, atol=1e-5)
        np.testing.assert_array_equal(part["c"].targets, raw_part["c"].targets)
        assert part.standardizer is sp.train.standardizer
    # the test part's own statistics differ: it was not standardised with them
    assert abs(float(sp.test["r"].targets.mean())) > 1e-3
    assert abs(float(sp.train["r"].targets.mean())) < 1e-5


def test_standardize_with_train_equals_split_and_refuses_twice() -> None:
    ts = _taskset()
    sp = ts.split(0.3, seed=0)
    test = sp.test.standardize(sp.train)
    ref = ts.split(0.3, seed=0, standardize=True).test
    np.testing.assert_allclose(test.inputs, ref.inputs)
    np.testing.assert_allclose(test["r"].targets, ref["r"].targets)
    with pytest.raises(ValueError, match="already standardised"):
        test.standardize(sp.train)
    with pytest.raises(ValueError, match="already standardised"):
        sp.test.standardize(ts.standardize())
    with pytest.raises(TypeError, match="train must be"):
        ts.standardize("train")


def test_inverse_transform_targets_restores_original_units() -> None:
    ts = _taskset()
    sp = ts.split(0.25, seed=2, standardize=True)
    out = sp.test.inverse_transform_targets({
        "r": sp.test["r"].targets,
        "r2": torch.as_tensor(sp.test["r2"].targets),
        "c": "untouched",
    })
    np.testing.assert_allclose(out["r"], ts["r"].targets[sp.indices.test], rtol=1e-5)
    assert isinstance(out["r2"], torch.Tensor)
    np.testing.assert_allclose(out["r2"].numpy(), ts["r2"].targets[sp.indices.test],
                               rtol=1e-5, atol=1e-3)
    assert out["c"] == "untouched"
    pred = TaskPrediction("regression", sp.test["r"].targets)
    back = sp.test.inverse_transform_targets({"r": pred})["r"]
    np.testing.assert_allclose(back.values, ts["r"].targets[sp.indices.test], rtol=1e-5)
    stats = sp.train.standardizer
    assert isinstance(stats, Standardizer)
    np.testing.assert_allclose(stats.inverse_transform_inputs(sp.test.inputs),
                               ts.inputs[sp.indices.test], atol=1e-4)
    with pytest.raises(ValueError, match="not standardised"):
        ts.inverse_transform_targets({"r": np.zeros(3)})


def test_inputs_or_targets_only_and_to_dict() -> None:
    ts = _taskset()
    only_t = ts.standardize(inputs=False)
    np.testing.assert_array_equal(only_t.inputs, ts.inputs)
    only_x = ts.standardize(targets=False)
    np.testing.assert_array_equal(only_x["r"].targets, ts["r"].targets)
    d = only_x.standardizer.to_dict()
    assert d["n_samples"] == len(ts) and d["target_mean"] == {}
    assert len(d["input_mean"]) == 3


def test_standardize_refuses_mismatched_sets() -> None:
    ts = _taskset()
    other = TaskSet.from_arrays(np.zeros((5, 2)), {"r": np.arange(5.0)},
                                kinds={"r": "regression"})
    with pytest.raises(ValueError, match="shape"):
        other.standardize(ts)
    no_r = TaskSet.from_arrays(np.zeros((5, 3)), {"c": np.arange(5) % 2})
    with pytest.raises(ValueError, match="regression task 'r'"):
        no_r.standardize(ts)


def test_targets_is_a_property_and_calling_it_still_works() -> None:
    ts = _taskset()
    assert list(ts.targets) == ["r", "r2", "c"]
    np.testing.assert_array_equal(ts.targets["r"], ts["r"].targets)
    with pytest.warns(FutureWarning, match="property"):
        called = ts.targets()
    assert list(called) == ["r", "r2", "c"]


def test_many_classes_warning_fires_for_near_unique_labels() -> None:
    y = np.arange(100) % 95  # 95 classes in 100 rows
    with pytest.warns(UserWarning, match="probably a regression target.*kinds="):
        ts = TaskSet.from_arrays(np.zeros((100, 1)), {"y": y})
    assert ts["y"].kind == "classification"


def test_many_classes_warning_silent_for_ordinary_or_declared_classes() -> None:
    y = np.arange(1000) % 10  # 10 classes in 1,000 rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TaskSet.from_arrays(np.zeros((1000, 1)), {"y": y})
        # a kind given by the user is not second-guessed
        TaskSet.from_arrays(np.zeros((100, 1)), {"y": np.arange(100) % 95},
                            kinds={"y": "classification"})
        # an evaluation set encoded like a training set is not warned about again
        train = TaskSet.from_arrays(np.zeros((100, 1)), {"y": np.arange(100) % 95},
                                    kinds={"y": "classification"})
        TaskSet.from_arrays(np.zeros((10, 1)), {"y": np.arange(10)}, like=train)


def test_builtin_loaders_are_functions_of_tasklens_data() -> None:
    # the naming rule: a data set's name in tasklens.data is the function returning it
    import tasklens.data as data
    from tasklens.data.builtin import BUILTIN_DATASETS

    assert callable(data.yeast) and data.yeast.__module__ == "tasklens.data.yeast"
    assert callable(data.multi_digits_mixed)
    assert "multi_digits_mixed" in BUILTIN_DATASETS


def test_split_statistics_are_bit_identical_whatever_the_memory_and_threads() -> None:
    """The statistics behind ``split(standardize=True)`` (what ``tasklens analyze`` trains on)
    depend only on the training rows and their order: not on the buffer's alignment (an
    unpickled array in a worker sits at another offset), a pickle round trip, or torch's
    thread count — the conditions under which the process executor and a resumed run
    rebuild or receive the split."""
    import pickle

    rng = np.random.default_rng(11)
    x = (rng.normal(size=(257, 13)) * rng.uniform(0.1, 100, 13) + 30).astype(np.float32)
    ts = TaskSet.from_arrays(x, {"r": x[:, 0] * 3 + rng.normal(size=257), "s": x[:, 1] ** 2},
                             kinds={"r": "regression", "s": "regression"})
    ref = ts.split(0.3, seed=2, standardize=True)
    threads = torch.get_num_threads()
    try:
        for offset in (1, 3, 8):  # float32 elements: 4, 12 and 32 bytes off
            raw = bytearray(x.nbytes + 64)
            moved = np.ndarray(x.shape, np.float32, buffer=raw, offset=4 * offset)
            moved[...] = x
            torch.set_num_threads(1 if offset % 2 else max(threads, 2))
            other = pickle.loads(pickle.dumps(TaskSet.from_arrays(
                moved, {n: t.targets for n, t in ts.tasks.items()},
                kinds={"r": "regression", "s": "regression"}), protocol=5)
            ).split(0.3, seed=2, standardize=True)
            a, b = ref.train.standardizer, other.train.standardizer
            np.testing.assert_array_equal(a.input_mean, b.input_mean)
            np.testing.assert_array_equal(a.input_std, b.input_std)
            for name in ("r", "s"):
                np.testing.assert_array_equal(a.target_mean[name], b.target_mean[name])
                np.testing.assert_array_equal(a.target_std[name], b.target_std[name])
            for part in ("train", "test"):
                np.testing.assert_array_equal(getattr(ref, part).inputs,
                                              getattr(other, part).inputs)
    finally:
        torch.set_num_threads(threads)
