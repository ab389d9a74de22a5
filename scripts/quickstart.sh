#!/usr/bin/env bash
# Install into .venv and run the main job, `tasklens analyze`, on the built-in default set
# (five tasks of three kinds from two-digit images). Writes report.html, results.json,
# figures/ and model.pt to quickstart-output/ (or $TASKLENS_QUICKSTART_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh data
out="${TASKLENS_QUICKSTART_OUT:-quickstart-output}"
.venv/bin/tasklens analyze --budget fast --out "$out"
