"""mh-train end to end on tiny data: every family, outputs, determinism, resume, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_runs import TINY_MLP, invoke, train, write_split

from training.checkpoint import Checkpoint
from training.cli import eval_main, train_main
from training.loop import StepRunner
from training.report import read_metrics

FAMILY_ARGS = {
    "mlp": TINY_MLP,
    "resnet": ["--model", "resnet", "--channels", "8", "--blocks", "1"],
    "vit": ["--model", "vit", "--dim", "16", "--depth", "1", "--heads", "2", "--patch", "3"],
    "moe-hard": ["--model", "moe-hard", "--widths", "32,16"],
    "moe-sparse": [
        "--model",
        "moe-sparse",
        "--widths",
        "32,16",
        "--experts",
        "3",
        "--top-k",
        "2",
        "--augment",
    ],
    "moe-soft": [
        "--model",
        "moe-soft",
        "--backbone",
        "resnet",
        "--channels",
        "8",
        "--blocks",
        "1",
        "--experts",
        "2",
    ],
    "classify": ["--model", "classify", "--widths", "32,16", "--bins", "16"],
    "exchange": ["--model", "exchange", "--hidden", "8", "--tokens", "4"],
}
NOT_TIMINGS = ("epoch", "train_loss", "train_log2_mse", "val_log2_mse", "lr")


@pytest.mark.parametrize("family", sorted(FAMILY_ARGS))
def test_family_trains_and_round_trips_through_mh_eval(split_dir, tmp_path, family):
    run = tmp_path / family
    result = train(split_dir, run, *FAMILY_ARGS[family], "--p-scale", "auto", epochs=4)
    assert result.exit_code == 0, result.output
    rows = read_metrics(run)
    assert len(rows) == 4
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    for name in (
        "config.json",
        "best.pt",
        "last.pt",
        "report.md",
        "learning_curves.png",
        "pred_vs_true.png",
    ):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["model_config"]["family"] == family
    assert config["data"]["train"]["dropped_infinite"] == 2
    assert "(10, 4, 4)" in (run / "report.md").read_text().replace("| 10 | 4 | 4 |", "(10, 4, 4)")
    scored = invoke(eval_main, ["--checkpoint", run / "best.pt", "--data", split_dir, "--json"])
    assert scored.exit_code == 0, scored.output
    best_val = min(r["val_log2_mse"] for r in rows)
    assert json.loads(scored.stdout)["log2_mse"] == pytest.approx(best_val, rel=1e-6)
    text = invoke(eval_main, ["--checkpoint", run, "--data", split_dir])
    baseline = json.loads(scored.stdout)["baseline_log2_mse"]
    assert f"group-mean baseline {baseline:.4f}" in text.stdout


def test_same_seed_gives_identical_metrics(split_dir, tmp_path):
    args = [*TINY_MLP, "--augment", "--seed", "7"]
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        assert train(split_dir, run, *args).exit_code == 0
    a, b = ([{k: r[k] for k in NOT_TIMINGS} for r in read_metrics(run)] for run in runs)
    assert a == b
    other = tmp_path / "c"
    assert train(split_dir, other, *TINY_MLP, "--augment", "--seed", "8").exit_code == 0
    assert read_metrics(other)[0]["train_loss"] != a[0]["train_loss"]


def test_resume_extends_a_run_exactly(split_dir, tmp_path):
    args = [*TINY_MLP, "--schedule", "none", "--augment"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train(split_dir, whole, *args, epochs=3).exit_code == 0
    assert train(split_dir, parts, *args, epochs=2).exit_code == 0
    resumed = invoke(train_main, ["--resume", parts, "--epochs", "3", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    strip = lambda run: [{k: r[k] for k in NOT_TIMINGS} for r in read_metrics(run)]  # noqa: E731
    assert strip(parts) == strip(whole)


def test_interrupted_epoch_resumes_where_it_stopped(split_dir, tmp_path, monkeypatch):
    """A stop signal mid-epoch saves last.pt there; resuming matches an uninterrupted run."""
    args = [*TINY_MLP, "--augment"]  # dropout (0.3 for mlp), augmentation and cosine decay
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train(split_dir, whole, *args, epochs=2).exit_code == 0

    real_step, calls = StepRunner.__call__, []

    def step_then_signal(self, *a):
        calls.append(1)
        if len(calls) == 20:  # inside epoch 2 (15 steps per epoch)
            os.kill(os.getpid(), signal.SIGUSR1)
        return real_step(self, *a)

    monkeypatch.setattr(StepRunner, "__call__", step_then_signal)
    stopped = train(split_dir, parts, *args, epochs=2)
    monkeypatch.setattr(StepRunner, "__call__", real_step)
    assert stopped.exit_code == 0, stopped.output
    state = Checkpoint.load(parts / "last.pt").loop
    assert (state.epoch, state.step) == (1, 5)
    assert not (parts / "report.md").exists()
    resumed = train(split_dir, parts, *args, "--resume", parts, epochs=2)
    assert resumed.exit_code == 0, resumed.output
    keys = ("train_loss", "train_log2_mse", "val_log2_mse", "lr")
    assert [r[k] for r in read_metrics(parts) for k in keys] == [
        r[k] for r in read_metrics(whole) for k in keys
    ]  # bit-identical on CPU
    for name in ("best.pt", "last.pt"):
        a, b = (Checkpoint.load(run / name).model for run in (whole, parts))
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_resume_without_last_pt_starts_fresh_and_refuses_recipe_changes(split_dir, tmp_path):
    run = tmp_path / "job"
    assert train(split_dir, run, *TINY_MLP, "--resume", run, epochs=1).exit_code == 0
    assert len(read_metrics(run)) == 1
    again = train(split_dir, run, *TINY_MLP, "--resume", run, epochs=1)  # finished: no-op
    assert again.exit_code == 0 and len(read_metrics(run)) == 1
    changed = train(split_dir, run, *TINY_MLP, "--lr", "0.1", "--resume", run, epochs=2)
    assert changed.exit_code == 2 and "--lr" in changed.output
    other_model = train(split_dir, run, "--model", "resnet", "--resume", run, epochs=2)
    assert other_model.exit_code == 2 and "--model" in other_model.output
    taken = train(split_dir, run, *TINY_MLP, epochs=1)
    assert taken.exit_code == 2 and "already holds a run" in taken.output


def test_moe_sparse_starts_from_trained_experts(split_dir, tmp_path, trained_run):
    run = tmp_path / "moe"
    result = train(
        split_dir,
        run,
        "--model",
        "moe-sparse",
        "--experts",
        "2",
        "--init-experts",
        trained_run / "best.pt",
        epochs=1,
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())["model_config"]
    expert = Checkpoint.load(trained_run / "best.pt").model_config.to_json()
    assert config["trunk"] == expert["trunk"] and config["p_scale"] == expert["p_scale"]


def test_sigterm_saves_last_pt_and_exits_zero(tmp_path):
    split = write_split(tmp_path / "split", train_rows=400, val_rows=20)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-c",
        "from training.cli import train_main; train_main()",
        "--data",
        split,
        "--out",
        run,
        *TINY_MLP,
        "--epochs",
        "1000",
        "--batch-size",
        "16",
        "--quiet",
    ]
    proc = subprocess.Popen([str(c) for c in cmd], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180  # generous: CI machines may be busy
    while time.monotonic() < deadline and not (run / "last.pt").exists():
        time.sleep(0.2)
    assert (run / "last.pt").exists(), "no epoch finished in time"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    epoch = Checkpoint.load(run / "last.pt").loop.epoch
    assert epoch >= 1 and not (run / "report.md").exists()
    resumed = invoke(train_main, ["--resume", run, "--epochs", epoch + 1, "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert (run / "report.md").exists() and len(read_metrics(run)) == epoch + 1


def test_early_stopping_ends_a_run_that_stops_improving(split_dir, tmp_path):
    run = tmp_path / "flat"
    # an lr far below float32 resolution leaves the weights, hence the validation, unchanged
    result = train(split_dir, run, *TINY_MLP, "--lr", "1e-30", "--patience", "2", epochs=10)
    assert result.exit_code == 0, result.output
    assert len(read_metrics(run)) == 3
    assert "early stopping (patience 2)" in (run / "report.md").read_text()


def test_cli_settings_reach_config_json(split_dir, tmp_path):
    run = tmp_path / "cfg"
    result = train(
        split_dir,
        run,
        *TINY_MLP,
        "--optimizer",
        "adam",
        "--weight-decay",
        "0.01",
        "--schedule",
        "plateau",
        "--patience",
        "1",
        "--clip-grad",
        "0",
        epochs=2,
    )
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    s = config["settings"]
    assert (s["optimizer"], s["weight_decay"], s["schedule"], s["widths"]) == (
        "adam",
        0.01,
        "plateau",
        [32, 16],
    )
    assert s["train"] == [str(Path(split_dir, "train").resolve())]
    assert config["data"]["train"]["fingerprint"] and config["versions"]["torch"]
    assert config["model_config"]["pad"] == 6
