"""The Yeast loader reads river's shipped copy: shape and label statistics of the real set."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("river")

from tasklens.data.yeast import yeast


def test_yeast_shape_and_known_statistics() -> None:
    ts = yeast()
    assert ts.n_samples == 2417 and ts.input_shape == (103,) and ts.n_tasks == 14
    assert all(t.kind == "binary" for t in ts.tasks.values())
    y = np.stack([t.targets for t in ts.tasks.values()], axis=1)
    # published label cardinality of Yeast: 4.237 labels per gene
    assert y.sum(axis=1).mean() == pytest.approx(4.237, abs=1e-3)
    assert y.sum(axis=1).min() >= 1
