"""colored_multi_digits: colour ↔ class in the source, a derangement in the target, the
images rebuilt pixel by pixel from the scikit-learn digits, determinism, no duplicates and
unseen test digits."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.data import colored_multi_digits, multi_digits
from tasklens.data.digits import PALETTE, target_color_permutation


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images / 16.0, bunch.target


def _reference_image(ts, row: int) -> np.ndarray:
    """Independent rebuild: paste each coloured digit at its offset, keep the max."""
    grey, _ = _digits()
    shift = ts.info["shift"]
    side = 8 + 2 * shift
    f = dict(zip(ts.factors.names, ts.factors.values[row]))
    out = np.zeros((3, side, side))
    for which in ("left", "right"):
        digit = grey[ts.info[f"{which}_source_index"][row]]
        colour = PALETTE[int(f[f"{which}_color"])]
        oy, ox = shift + int(f[f"{which}_dy"]), shift + int(f[f"{which}_dx"])
        for c in range(3):
            for i in range(8):
                for j in range(8):
                    out[c, oy + i, ox + j] = max(out[c, oy + i, ox + j], digit[i, j] * colour[c])
    return out


def test_images_match_an_independent_rebuild_and_source_colour_is_the_class() -> None:
    ts = colored_multi_digits(60, seed=4)
    x = np.asarray(ts.inputs)
    assert x.shape == (60, 3, 16, 16)
    for row in range(0, 60, 7):
        np.testing.assert_allclose(x[row], _reference_image(ts, row), atol=1e-6)
    f = dict(zip(ts.factors.names, ts.factors.values.T))
    np.testing.assert_array_equal(f["left_color"], ts.targets["left"])
    np.testing.assert_array_equal(f["right_color"], ts.targets["right"])
    # the labels are the classes of the scikit-learn digits used
    _, labels = _digits()
    np.testing.assert_array_equal(labels[ts.info["left_source_index"]], ts.targets["left"])
    np.testing.assert_array_equal(labels[ts.info["right_source_index"]], ts.targets["right"])


def test_target_is_the_same_images_with_deranged_colours() -> None:
    src = colored_multi_digits(200, "source", seed=2)
    tgt = colored_multi_digits(200, "target", seed=2)
    perm = target_color_permutation(0)
    assert not np.any(perm == np.arange(10))  # a derangement
    fs = dict(zip(src.factors.names, src.factors.values.T))
    ft = dict(zip(tgt.factors.names, tgt.factors.values.T))
    for side in ("left", "right"):
        np.testing.assert_array_equal(ft[f"{side}_color"], perm[tgt.targets[side]])
        assert np.all(ft[f"{side}_color"] != fs[f"{side}_color"])  # every digit recoloured
        np.testing.assert_array_equal(src.targets[side], tgt.targets[side])
    # same geometry: the per-pixel maximum over channels of grey × colour differs, but the
    # support (non-zero pixels) is identical
    xs, xt = np.asarray(src.inputs), np.asarray(tgt.inputs)
    np.testing.assert_array_equal(xs.max(axis=1) > 0, xt.max(axis=1) > 0)


def test_same_pairs_and_shifts_as_multi_digits_and_deterministic() -> None:
    a = colored_multi_digits(150, seed=9)
    b = colored_multi_digits(150, seed=9)
    np.testing.assert_array_equal(np.asarray(a.inputs), np.asarray(b.inputs))
    grey = multi_digits(150, seed=9, shift=4, flatten=False)
    np.testing.assert_array_equal(a.info["left_source_index"], grey.info["left_source_index"])
    np.testing.assert_array_equal(a.factors.values[:, :6], grey.factors.values)
    # where the two digits do not overlap, the grey image is the max over the colour's
    # channels divided out: check the support instead (max overlay of the same digits)
    np.testing.assert_array_equal(np.asarray(a.inputs).max(axis=1) > 0,
                                  np.asarray(grey.inputs)[:, 0] > 0)
    c = colored_multi_digits(150, seed=10)
    assert not np.array_equal(np.asarray(a.inputs), np.asarray(c.inputs))


def test_no_duplicate_images_and_unseen_test_digits() -> None:
    ts = colored_multi_digits(1500, seed=0)
    pairs = set(zip(ts.info["left_source_index"].tolist(), ts.info["right_source_index"].tolist()))
    assert len(pairs) == 1500
    flat = np.asarray(ts.inputs).reshape(1500, -1)
    assert len(np.unique(flat, axis=0)) == 1500
    train = colored_multi_digits(300, seed=1, pool_part="train")
    test = colored_multi_digits(300, seed=1, pool_part="test")
    used_train = set(train.info["left_source_index"]) | set(train.info["right_source_index"])
    used_test = set(test.info["left_source_index"]) | set(test.info["right_source_index"])
    assert not used_train & used_test


def test_colour_correlation_below_one_breaks_the_map() -> None:
    ts = colored_multi_digits(2000, seed=3, color_correlation=0.3)
    f = dict(zip(ts.factors.names, ts.factors.values.T))
    agree = np.mean(f["left_color"] == ts.targets["left"])
    assert abs(agree - 0.3) < 0.05  # binomial SE ≈ 0.01


@pytest.mark.parametrize("kwargs, match", [
    ({"domain": "test"}, "domain"), ({"color_correlation": 1.5}, "color_correlation"),
    ({"n": 0}, "n"), ({"shift": -1}, "shift"), ({"pool_part": "val"}, "pool_part"),
])
def test_bad_input(kwargs, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        colored_multi_digits(**{"n": 10, **kwargs})
