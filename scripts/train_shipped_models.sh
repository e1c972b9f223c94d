#!/usr/bin/env bash
# Train and export the models that ship in src/ppomania/data/models (one command, reproducible:
# fixed seed and step count; one torch thread each, so the two runs can share a 2-core machine).
#   scripts/train_shipped_models.sh            # both, one after the other
#   scripts/train_shipped_models.sh 4          # only 4K
set -euo pipefail
cd "$(dirname "$0")/.."
PPOMANIA=${PPOMANIA:-.venv/bin/ppomania}
for keys in "${@:-4 7}"; do
  for k in $keys; do
    run=runs/shipped-${k}k
    rm -rf "$run"
    "$PPOMANIA" train --keys "$k" --seed 0 --threads 1 --total-timesteps 1000000 --run-name "shipped-${k}k"
    "$PPOMANIA" export "$run/final_model.zip" --half -o "src/ppomania/data/models/${k}k.zip"
  done
done
