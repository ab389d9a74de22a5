"""The real 14-label Yeast data set, read from the copy that the PyPI package river ships."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

from .taskset import TaskSet

N_FEATURES = 103
N_LABELS = 14


def yeast() -> TaskSet:
    """Yeast gene-function data (Elisseeff & Weston 2001) as 14 binary tasks.

    2,417 genes × 103 features; task ``Classk`` (river's column names) says whether the
    gene has functional class k. The file is read from river's package data
    (``river/datasets/yeast.csv.gz``); nothing is downloaded. Requires the ``data`` extra:
    ``pip install 'tasklens[data]'``.

    Returns
    -------
    TaskSet
        ``inputs`` (2417, 103) float32; tasks ``Class1`` … ``Class14`` (binary).
    """
    try:
        ref = resources.files("river.datasets").joinpath("yeast.csv.gz")
    except ModuleNotFoundError as exc:
        raise ImportError(
            "yeast() reads the copy shipped by river: pip install 'tasklens[data]'"
        ) from exc
    import pandas as pd

    with ref.open("rb") as raw, gzip.open(raw, "rt") as handle:
        frame = pd.read_csv(handle, dtype=np.float64)
    header = [str(c) for c in frame.columns]
    table = frame.to_numpy()
    if table.shape[1] != N_FEATURES + N_LABELS:
        raise RuntimeError(
            f"river's yeast.csv.gz has {table.shape[1]} columns, expected "
            f"{N_FEATURES + N_LABELS}; the installed river version is not supported"
        )
    x, y = table[:, :N_FEATURES], table[:, N_FEATURES:]
    names = [h.strip() for h in header[N_FEATURES:]]
    targets = {name: y[:, i].astype(np.int64) for i, name in enumerate(names)}
    return TaskSet.from_arrays(
        x, targets, {k: "binary" for k in targets}, name="yeast",
        info={"source": "river/datasets/yeast.csv.gz"},
    )
