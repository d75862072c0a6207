#!/usr/bin/env bash
# Install (into .venv) and run the demo: fit 1-D functions with every layer type and a ReLU MLP.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
.venv/bin/python examples/function_example.py "$@"
