#!/usr/bin/env bash
# GPU check of --method vertex-torch (under 5 minutes on one GPU): row-for-row equality with the
# numpy closed form and rates; JSON summary to $OUT/gpu_label_check.json when OUT is set.
# Needs python with torch and numpy only (no Ray, no highspy). Usage: bash benchmarks/gpu_label_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
timeout 280 "$PY" benchmarks/gpu_label_check.py --seconds "${GPU_CHECK_SECONDS:-150}"
