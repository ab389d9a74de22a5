"""A reader for the IDX files that MNIST is distributed in (plain or gzip-compressed).

IDX layout (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, one byte
giving the element type, one byte giving the number of dimensions ``d``, then ``d``
big-endian uint32 sizes, then the elements in big-endian C order.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

# element-type byte -> big-endian numpy dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a native-endian array.

    Parameters
    ----------
    path : path-like
        An IDX file; gzip compression is detected from the content, not the name.

    Returns
    -------
    array : (d_1, ..., d_k) array
        Shape from the header; dtype from the type byte (uint8 for MNIST).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        Bad magic number, unknown type byte, zero dimensions, or a body whose length does
        not match the header (truncated or trailing bytes); the message names the file.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"IDX file {str(file)!r} does not exist")
    raw = file.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"IDX file {str(file)!r} is a corrupt gzip stream: {exc}") from exc
    if len(raw) < 4:
        raise ValueError(
            f"IDX file {str(file)!r} is too short ({len(raw)} bytes) to hold the 4-byte magic"
        )
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"IDX file {str(file)!r} has bad magic number 0x{raw[:4].hex()}: the first two "
            "bytes must be zero; is it an IDX file (e.g. train-images-idx3-ubyte)?"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise ValueError(
            f"IDX file {str(file)!r} has unknown element type 0x{type_code:02x} in its magic "
            f"number; known types: {', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}"
        )
    if ndim == 0:
        raise ValueError(f"IDX file {str(file)!r} declares 0 dimensions in its magic number")
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise ValueError(
            f"IDX file {str(file)!r} is truncated inside its header: {ndim} dimension sizes "
            f"need {header_end} bytes, the file has {len(raw)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - header_end
    if body != expected:
        what = "truncated" if body < expected else "longer than its header says"
        raise ValueError(
            f"IDX file {str(file)!r} is {what}: shape {shape} of {dtype.name} needs "
            f"{expected} data bytes, found {body}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find_file(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"MNIST file {stem!r} (or {stem}.gz) not found in {str(directory)!r}; the directory "
        "must hold the four IDX files of MNIST (train-*/t10k-* images and labels)"
    )


def load_mnist_idx(
    directory: str | os.PathLike[str], split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST images and labels of one split from a directory of IDX files.

    Parameters
    ----------
    directory : path-like
        Holds ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` (split
        ``"train"``) or ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte``
        (split ``"test"``), each optionally with a ``.gz`` suffix.
    split : {"train", "test"}

    Returns
    -------
    images : (N, H, W) uint8 array
    labels : (N,) int64 array
        Values in 0..9.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"source directory {str(folder)!r} does not exist")
    image_file = _find_file(folder, MNIST_FILES[split][0])
    label_file = _find_file(folder, MNIST_FILES[split][1])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{str(image_file)!r} must hold a 3-d uint8 array (N, rows, cols), got "
            f"{images.ndim}-d {images.dtype}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(
            f"{str(label_file)!r} must hold a 1-d uint8 array of labels, got "
            f"{labels.ndim}-d {labels.dtype}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{str(image_file)!r} holds {len(images)} images but {str(label_file)!r} holds "
            f"{len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{str(label_file)!r} has label {labels.max()}; MNIST labels are 0..9")
    return images, labels.astype(np.int64)
