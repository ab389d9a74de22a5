"""report.html in a real browser (Debian's chromium, headless): every image loads and the
console stays silent. Skipped, with the reason, where chromium is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run "
    "installs it)")

# Injected into a copy of the page (the report itself has no script): records load errors
# of any element, then, once everything has loaded, writes what it saw into the DOM.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message || (e.target && e.target.src) || 'error'));
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var d = document.createElement('div');
  d.id = 'probe';
  d.setAttribute('data-images', imgs.length);
  d.setAttribute('data-loaded', ok);
  d.setAttribute('data-errors', window.__errors.length);
  document.body.appendChild(d);
});
</script>"""


def open_in_chromium(page: Path, tmp_path: Path) -> tuple[dict[str, int], list[str]]:
    """(probe counts, console lines) of ``page`` opened from a file, with no network."""
    probed = tmp_path / f"probed-{page.name}"
    text = page.read_text()
    probed.write_text(text.replace("<body>", "<body>" + PROBE, 1))
    for name in ("figures",):
        if (page.parent / name).exists() and not (tmp_path / name).exists():
            shutil.copytree(page.parent / name, tmp_path / name)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
           probed.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    match = re.search(r'<div id="probe" data-images="(\d+)" data-loaded="(\d+)" '
                      r'data-errors="(\d+)"', proc.stdout)
    assert match, (proc.returncode, proc.stderr[-2000:])
    counts = dict(zip(("images", "loaded", "errors"), map(int, match.groups())))
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    return counts, console


def test_report_images_load_and_console_is_silent(default_run: Path, tmp_path: Path) -> None:
    counts, console = open_in_chromium(default_run / "report.html", tmp_path)
    n_png = len(list((default_run / "figures").glob("*.png")))
    assert counts == {"images": n_png, "loaded": n_png, "errors": 0}
    assert n_png >= 10
    assert console == []


def test_the_probe_sees_a_broken_image_and_a_console_error(tmp_path: Path) -> None:
    """Negative control: the checks above can fail."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                    '<img src="data:image/png;base64,iVBORw0KGgoAAAA=">'
                    "<script>console.error('boom')</script></body></html>")
    counts, console = open_in_chromium(page, tmp_path)
    assert counts["images"] == 1 and counts["loaded"] == 0 and counts["errors"] == 1
    assert any("boom" in line for line in console)
