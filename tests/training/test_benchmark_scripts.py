"""Benchmark scripts run their whole path on a CPU in the slow suite, so they cannot rot unseen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_runs import train, write_split

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


@pytest.mark.slow
def test_predict_rate_times_checkpoints_and_every_variant(tmp_path):
    run = tmp_path / "run"
    assert (
        train(write_split(tmp_path / "split"), run, "--model", "exchange", epochs=1).exit_code == 0
    )
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "predict_rate.py"),
            "--rows",
            "210",
            "--repeats",
            "1",
            "--threads",
            "1",
            "--checkpoint",
            f"default-tiny={run}",
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    table = [line.split("|") for line in out.splitlines() if line.startswith("| ")][1:]
    names = ["trained default-tiny", "fresh default", "fresh wide", "fresh small", "fresh mlp"]
    assert [row[1].strip() for row in table] == names
    assert all(float(row[3].replace(",", "")) > 0 for row in table)
    assert "trained default-tiny" in out and "target 20,000" in out
