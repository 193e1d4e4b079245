"""The prepared GPU check runs its whole path on a CPU (--smoke), so it cannot rot unseen."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_smoke_on_cpu(tmp_path):
    env = {**os.environ, "GPU_CHECK_DEVICE": "cpu", "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--smoke"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(summary["families"]) >= {"mlp", "exchange", "moe-sparse", "classify"}
    assert all(f["train_samples_per_s"] > 0 for f in summary["families"].values())
    assert len(summary["exchange_training"]["groups"]) == 21
