#!/usr/bin/env bash
# GPU check of the trainer (under 6 minutes on one GPU): every family one epoch in bf16 with
# training and prediction samples/s (target: mlp >= 1M samples/s), then a short exchange
# training on exact course-grid data, scored on a held-out test set. JSON summary to
# $OUT/gpu_check.json (or ./gpu_check.json). Needs python with torch, numpy, pyarrow and click
# only (no Ray, no highspy). Usage: bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
"$PY" -c "import torch, numpy, pyarrow, click; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
timeout 340 "$PY" benchmarks/gpu_check.py --device "${GPU_CHECK_DEVICE:-cuda}" \
    --out "${OUT:-.}/gpu_check.json" "$@"
