#!/usr/bin/env bash
# Create ./.venv (if missing) and install mheight into it, editable, with the test tools.
# torch is pinned first to the CPU build this kind of machine carries on disk; on a GPU
# cluster set MHEIGHT_TORCH="torch" (or a CUDA wheel spec) to take the one you want.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "${MHEIGHT_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q -e '.[dev]'
