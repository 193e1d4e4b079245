#!/usr/bin/env bash
# The main job end to end on a small default: generate exact labels, split, train, evaluate.
# Everything lands under ./demo (removed and rebuilt on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
export PATH="$PWD/.venv/bin:$PATH" RAY_AUTH_MODE=disabled
rm -rf demo
mh-gen --n 9 --k 4 --samples 4000 --out demo/data
mh-split demo/data --out demo/splits
mh-train --data demo/splits --out demo/run --batch-size 64 --epochs 8  # small data: more, smaller steps
mh-eval --checkpoint demo/run/best.pt --data demo/splits
