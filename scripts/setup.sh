#!/usr/bin/env bash
# Create .venv (if missing) and install the project with the given extras, offline-friendly:
# torch is pinned to the 2.13.0 CPU build, which pip takes from the local wheel cache here.
#
#   scripts/setup.sh              # the test extra
#   scripts/setup.sh test,peers   # plus the KAN libraries the benchmarks compare against
#
# The extras install under a constraint that holds torch at that build, so no extra's
# dependency can upgrade it (or pull a torchvision for another torch).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
torch_pin="torch==2.13.0"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet "${torch_pin}"
constraints="$(mktemp)"
trap 'rm -f "${constraints}"' EXIT
echo "${torch_pin}" > "${constraints}"
.venv/bin/python -m pip install --quiet --constraint "${constraints}" -e ".[${extras}]"
