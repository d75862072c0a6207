#!/usr/bin/env bash
# Install (into .venv) and run the test suite with a coverage report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,examples,docs,notebooks
.venv/bin/python -m pytest -q --cov=high_order_layers_torch --cov-report=term:skip-covered "$@"
