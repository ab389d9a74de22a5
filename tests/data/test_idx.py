"""The IDX reader against files written here byte by byte with ``struct`` (independent encoder)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data.idx import load_mnist_idx, read_idx

# type byte -> (struct format character, numpy dtype for the expected values)
_FORMATS = {0x08: ("B", np.uint8), 0x09: ("b", np.int8), 0x0B: ("h", np.int16),
            0x0C: ("i", np.int32), 0x0D: ("f", np.float32), 0x0E: ("d", np.float64)}


def idx_bytes(values: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode ``values`` as IDX: magic, big-endian uint32 sizes, big-endian elements."""
    fmt = _FORMATS[type_code][0]
    header = bytes([0, 0, type_code, values.ndim]) + b"".join(
        struct.pack(">I", s) for s in values.shape
    )
    body = b"".join(struct.pack(">" + fmt, v.item()) for v in values.ravel())
    return header + body


def write(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@settings(max_examples=25, deadline=None)
@given(
    type_code=st.sampled_from(sorted(_FORMATS)),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    compress=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_every_type(tmp_path_factory, type_code, shape, compress, seed) -> None:
    dtype = _FORMATS[type_code][1]
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        values = rng.normal(size=shape).astype(dtype)
    path = write(tmp_path_factory.mktemp("idx") / "f.idx", idx_bytes(values, type_code), compress)
    out = read_idx(path)
    assert out.shape == values.shape and out.dtype == values.dtype
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, values)


def test_bad_magic_names_the_file(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((2, 3), dtype=np.uint8))
    path = write(tmp_path / "images.idx", b"\x01" + good[1:])
    with pytest.raises(ValueError, match=r"images\.idx.*magic"):
        read_idx(path)
    path = write(tmp_path / "types.idx", good[:2] + b"\x07" + good[3:])
    with pytest.raises(ValueError, match=r"types\.idx.*element type 0x07"):
        read_idx(path)
    path = write(tmp_path / "nodim.idx", b"\x00\x00\x08\x00")
    with pytest.raises(ValueError, match="0 dimensions"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_and_overlong_files(tmp_path: Path, compress: bool) -> None:
    data = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    path = write(tmp_path / "short-idx3-ubyte", data[:-5], compress)
    match = r"short-idx3-ubyte.*truncated.*needs 24 data bytes, found 19"
    with pytest.raises(ValueError, match=match):
        read_idx(path)
    path = write(tmp_path / "header", data[:9], compress)
    with pytest.raises(ValueError, match="truncated inside its header"):
        read_idx(path)
    path = write(tmp_path / "long", data + b"\x00", compress)
    with pytest.raises(ValueError, match="longer than its header says"):
        read_idx(path)
    path = write(tmp_path / "tiny", b"\x00\x00", compress)
    with pytest.raises(ValueError, match="too short"):
        read_idx(path)


def test_corrupt_gzip_and_missing_file(tmp_path: Path) -> None:
    blob = gzip.compress(idx_bytes(np.zeros((5, 5), dtype=np.uint8)))
    path = write(tmp_path / "bad.gz", blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"bad\.gz.*corrupt gzip"):
        read_idx(path)
    with pytest.raises(FileNotFoundError, match="nothere"):
        read_idx(tmp_path / "nothere")


def _write_mnist(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray,
                 compress: bool) -> None:
    suffix = ".gz" if compress else ""
    write(folder / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), compress)
    write(folder / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), compress)


def test_load_mnist_idx_both_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    train_y = np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8)
    test_x = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    test_y = np.array([5, 6, 7], dtype=np.uint8)
    _write_mnist(tmp_path, "train", train_x, train_y, compress=True)
    _write_mnist(tmp_path, "t10k", test_x, test_y, compress=False)
    x, y = load_mnist_idx(tmp_path, "train")
    np.testing.assert_array_equal(x, train_x)
    np.testing.assert_array_equal(y, train_y)
    assert y.dtype == np.int64
    x, y = load_mnist_idx(tmp_path, "test")
    np.testing.assert_array_equal(x, test_x)
    np.testing.assert_array_equal(y, test_y)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_mnist_idx(tmp_path, "val")


def test_load_mnist_idx_inconsistent_files(tmp_path: Path) -> None:
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    _write_mnist(tmp_path, "train", images, np.array([1, 2, 3], dtype=np.uint8), compress=False)
    match = r"holds 4 images but .*train-labels-idx1-ubyte.* 3 labels"
    with pytest.raises(ValueError, match=match):
        load_mnist_idx(tmp_path)
    _write_mnist(tmp_path, "train", images, np.array([1, 2, 3, 12], dtype=np.uint8), False)
    with pytest.raises(ValueError, match="has label 12"):
        load_mnist_idx(tmp_path)
    _write_mnist(tmp_path, "train", images[0], np.array([1], dtype=np.uint8), False)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*3-d uint8"):
        load_mnist_idx(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte.*not found"):
        load_mnist_idx(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist_idx(tmp_path / "missing")
