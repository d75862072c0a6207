#!/usr/bin/env bash
# Create .venv (if missing) and install the project with the given extras, offline-friendly:
# torch is pinned to the 2.13.0 CPU build, which pip takes from the local wheel cache here.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
