"""Read report.html back (stdlib HTML parser) to compare it with results.json."""

from __future__ import annotations

import base64
import html
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any


class ReportParser(HTMLParser):
    """Collects sections (id, status, finding text), cells' data-value and images."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self.images: list[str] = []
        self.values: list[tuple[str, str]] = []  # (section, data-value)
        self._section: str | None = None
        self._in_finding = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = (a.get("id") or "").removeprefix("stage-")
            self.sections[self._section] = {"status": a.get("data-status"), "finding": ""}
        elif tag == "p" and a.get("class") == "finding":
            self._in_finding = True
        elif tag == "img":
            self.images.append(a.get("src") or "")
        if "data-value" in a and self._section is not None:
            self.values.append((self._section, a["data-value"] or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_finding = False
        elif tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._in_finding and self._section is not None:
            self.sections[self._section]["finding"] += data + "\n"


def check_report_matches_results(out: Path) -> dict[str, Any]:
    """Assert report.html agrees with results.json and figures/; returns the results."""
    results = json.loads((out / "results.json").read_text())
    page = (out / "report.html").read_text()
    parser = ReportParser()
    parser.feed(page)
    assert set(parser.sections) == set(results["stages"])
    for name, entry in results["stages"].items():
        sec = parser.sections[name]
        assert sec["status"] == entry["status"], name
        if entry["status"] == "done":
            for line in entry["finding"]:
                assert line in sec["finding"], (name, line)
        else:
            assert entry["reason"] in html.unescape(sec["finding"]), name
    assert results["data"]["fingerprint"] in page
    # every number in a table cell is a number of results.json (exact float repr)
    numbers = _all_numbers(results)
    for section, value in parser.values:
        if value != "null":
            assert float(value) in numbers, (section, value)
    # images: embedded, no network, byte-identical to figures/*.png
    pngs = sorted(p.read_bytes() for p in (out / "figures").glob("*.png"))
    embedded = sorted(base64.b64decode(src.split(",", 1)[1]) for src in parser.images)
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert embedded == pngs
    assert "http://" not in page and "https://" not in page and "<script" not in page
    return results


def _all_numbers(obj: Any) -> set[float]:
    out: set[float] = set()
    if isinstance(obj, dict):
        for v in obj.values():
            out |= _all_numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= _all_numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out.add(float(obj))
    return out
