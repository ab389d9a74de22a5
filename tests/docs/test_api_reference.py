"""The API reference (docs/conf.py, docs/api/) builds with warnings as errors and covers the API.

One Sphinx build per session (module fixture, ~20 s of CPU); skipped with a reason when
Sphinx or myst-parser are not installed (``pip install -e .[docs]``).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="the API reference needs Sphinx: pip install -e .[docs]")
pytest.importorskip(
    "myst_parser", reason="the API reference needs myst-parser: pip install -e .[docs]"
)

from sphinx.util.inventory import InventoryFile

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SUBPACKAGES = (
    "affinity", "analysis", "balance", "data", "grouping", "linear", "nn", "report",
    "represent", "studies", "train",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("api_html")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         str(DOCS), str(out)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def inventory(built: Path) -> dict[str, str]:
    """Documented object name → the page (relative URI) it is described on."""
    with open(built / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", lambda base, uri: uri)
    names: dict[str, str] = {}
    for objects in inv.values():
        for name, item in objects.items():
            # sphinx >= 8.2 yields _InventoryItem, older versions a tuple (…, uri, …)
            uri = item.uri if hasattr(item, "uri") else item[2]
            names[name] = uri
    return names


def test_every_public_name_is_in_the_reference(inventory: dict[str, str]) -> None:
    missing = []
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"tasklens.{sub}")
        assert module.__all__, f"tasklens.{sub} has an empty __all__"
        missing += [f"tasklens.{sub}.{n}" for n in module.__all__
                    if f"tasklens.{sub}.{n}" not in inventory]
    assert not missing, f"public names without an API entry: {missing}"


def test_every_subpackage_has_a_page_in_the_toctree() -> None:
    index = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    for sub in SUBPACKAGES:
        page = DOCS / "api" / f"{sub}.rst"
        assert page.is_file(), f"no API page for tasklens.{sub}"
        assert f"   {sub}\n" in index, f"docs/api/{sub}.rst is not in docs/api/index.rst"
        assert f".. automodule:: tasklens.{sub}" in page.read_text(encoding="utf-8")
    root = (DOCS / "index.md").read_text(encoding="utf-8")
    assert "api/index" in root


def test_named_functions_have_a_documented_page(
    built: Path, inventory: dict[str, str]
) -> None:
    import tasklens.report

    wanted = [
        "tasklens.affinity.compute_affinities",
        "tasklens.affinity.ground_truth_sweep",
        "tasklens.affinity.GainSettings",
        "tasklens.affinity.evaluate_scores",
    ] + [f"tasklens.report.{n}" for n in tasklens.report.__all__]
    for name in wanted:
        assert name in inventory, f"{name} has no page in the API reference"
        page = built / inventory[name].split("#", 1)[0]
        assert page.is_file(), f"{name}: page {page} was not written"
        text = page.read_text(encoding="utf-8")
        # The page carries the object's anchor and its docstring's summary line.
        assert f'id="{name}"' in text, f"{name}: no anchor on {page.name}"
        obj = importlib.import_module(name.rsplit(".", 1)[0])
        summary = (getattr(obj, name.rsplit(".", 1)[1]).__doc__ or "").strip().splitlines()
        assert summary, f"{name} has no docstring"
        first_word = summary[0].split()[0].strip("`*:.,")
        assert first_word in text, f"{name}: docstring not rendered on {page.name}"
