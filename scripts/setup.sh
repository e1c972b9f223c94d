#!/usr/bin/env bash
# Creates .venv and installs ppomania with its test tools.
# TORCH_SPEC picks the torch build: the default is the CPU build; a GPU machine can use
# TORCH_SPEC=torch (the CUDA build from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "$TORCH_SPEC" || .venv/bin/python -m pip install -q torch \
    --index-url https://download.pytorch.org/whl/cpu
.venv/bin/python -m pip install -q -e '.[dev]'
