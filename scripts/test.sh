#!/usr/bin/env bash
# Lint and the fast test suite (slow and SLURM checks are separate markers; see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
export RAY_AUTH_MODE=disabled
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q "$@"
