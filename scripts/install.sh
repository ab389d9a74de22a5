#!/usr/bin/env bash
# Create .venv (if missing) and install tasklens with the pinned CPU torch.
# Usage: bash scripts/install.sh [EXTRAS]   e.g. EXTRAS=test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-data}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# constraints.txt pins torch==2.13.0 (the CPU build); a bare torch would pull CUDA.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".[${extras}]"
