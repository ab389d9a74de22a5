#!/usr/bin/env bash
# Install into .venv and run the main job on a built-in data set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh data
out="${TASKLENS_QUICKSTART_OUT:-quickstart-output}"
.venv/bin/tasklens quickstart --out "$out"
