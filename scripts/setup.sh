#!/usr/bin/env bash
# Creates .venv and installs ppomania with its test tools.
# TORCH_SPEC is what pip installs for torch (default torch==2.13.0), e.g.
#   TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"   (CPU-only build)
#   TORCH_SPEC=torch                                                     (PyPI: CUDA build on Linux)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# shellcheck disable=SC2086  # TORCH_SPEC may carry pip options
.venv/bin/python -m pip install -q $TORCH_SPEC
.venv/bin/python -m pip install -q -e '.[dev]'
