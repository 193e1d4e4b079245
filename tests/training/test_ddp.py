"""DDP through torchrun on CPU (gloo): two processes train one run, rank 0 writes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.report import read_metrics


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(split_dir, tmp_path):
    run = tmp_path / "ddp"
    mh_train = Path(sys.executable).with_name("mh-train")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "--no-python",
        mh_train,
        "--data",
        split_dir,
        "--out",
        run,
        "--model",
        "moe-hard",
        "--widths",
        "16",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2
    assert len(read_metrics(run)) == 2 and (run / "report.md").exists()
    assert not list(run.glob(".*.tmp"))
