"""Without Lightning installed, the adapter's import names the extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_missing_lightning_names_the_extra(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "tasklens.integrations.lightning", raising=False)
    monkeypatch.setitem(sys.modules, "lightning", None)  # simulate Lightning not installed
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    with pytest.raises(ImportError, match=r"pip install 'tasklens\[lightning\]'"):
        importlib.import_module("tasklens.integrations.lightning")
    # the package itself imports nothing heavy and stays importable
    assert importlib.import_module("tasklens.integrations").__doc__
