"""cluster/gen.sbatch and cluster/train.sbatch on a real one-node SLURM (see conftest.py).

Generation through SLURM must give exactly the rows of the same mh-gen command run without
SLURM: on one Ray node, on two Ray nodes (a second raylet on this machine), and after a
scancel and a resubmission. Training runs on CPU (--gres=none: this node has no GPU), stops
and saves on the time-limit warning signal, and continues when resubmitted.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slurm

# Small and fast (vertex method): 4 groups (m = 2..5) x 4 shards of 10 rows.
GEN = ["--n", "9", "--k", "4", "--samples", "40", "--shard-size", "10", "--seed", "7",
       "--no-progress"]  # fmt: skip
# Slow enough to cancel mid-run: n = 14, 6 groups (m = 2..7) x 12 shards of 25 rows, ~0.2 s a
# shard, ~7 s on 2 CPUs. Method vertex: with an LP method (highs) one resumed run's heights
# differed from the reference's in the last bit, which a bit-for-bit comparison cannot allow.
# About 14 s of work on 2 CPUs in 72 shards, long enough to cancel mid-run; the method is pinned
# so a faster default (auto) cannot finish it before the cancel lands.
GEN_SLOW = ["--n", "14", "--k", "7", "--samples", "3000", "--shard-size", "250", "--seed", "11",
            "--method", "vertex", "--no-progress"]  # fmt: skip
ONE_NODE = ["--nodes=1", "--cpus-per-task=2"]
ON_CPU = ["--gres=none", "--cpus-per-task=2"]  # this node has no GPU and 2 cores
JOB_TIMEOUT_S = 120
# Everything a row means; node_id (which Ray node wrote it) depends on the run by design.
DATA_COLUMNS = ["n", "k", "m", "P", "height", "seed", "shard", "row"]


def shards(out: Path) -> dict[str, pa.Table]:
    """Relative path -> table of every Parquet shard of an mh-gen output folder."""
    return {str(p.relative_to(out)): pq.read_table(p) for p in sorted(out.glob("*/part-*.parquet"))}


def assert_same_data(out: Path, reference: Path) -> None:
    got, want = shards(out), shards(reference)
    assert sorted(got) == sorted(want), "not the same shard files"
    for path, table in want.items():
        assert got[path].select(DATA_COLUMNS).equals(table.select(DATA_COLUMNS)), path


def local_mh_gen(slurm, args: list, out: Path) -> None:
    """The same mh-gen command without SLURM: a fresh local Ray of its own, then nothing left."""
    ray_tmp = slurm.state / "r"
    env = {**os.environ, "RAY_ADDRESS": "local", "RAY_TMPDIR": str(ray_tmp),
           "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    env.pop("SLURM_CONF", None)
    proc = subprocess.Popen(
        [slurm.venv / "bin" / "mh-gen", *args, "--out", out, "--num-cpus", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=JOB_TIMEOUT_S)
    finally:
        proc.kill()
        for pid in slurm.processes_mentioning(str(ray_tmp)):  # Ray daemons it left, if any
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode == 0, output


def assert_ray_gone(job_id: str, slurm) -> None:
    """No Ray process of the job survives it (its temp dir is in their command lines)."""
    marker = str(slurm.state / "ray" / f"ray-{job_id}")
    deadline = time.monotonic() + 15  # SLURM's KillWait (5 s) plus margin
    while (left := slurm.processes_mentioning(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray processes of job {job_id} outlived it: {left}"


def manifest(out: Path) -> dict:
    """mh-gen's manifest.json ({} before the first save; it is replaced atomically)."""
    path = out / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def manifest_complete(out: Path) -> bool:
    return manifest(out).get("complete") is True


def recorded_shards(out: Path) -> list[Path]:
    return [out / p for p in manifest(out).get("shards", {})]


@pytest.fixture(scope="session")
def reference(slurm) -> Path:
    out = slurm.state / "reference"
    local_mh_gen(slurm, GEN, out)
    return out


@pytest.fixture(scope="session")
def reference_slow(slurm) -> Path:
    out = slurm.state / "reference-slow"
    local_mh_gen(slurm, GEN_SLOW, out)
    return out


def test_gen_one_node_equals_run_without_slurm(slurm, reference):
    """Submitted the way the README says, through cluster/submit."""
    out = slurm.state / "gen-1"
    job = slurm.submit("gen", ONE_NODE, [*GEN, "--out", out])
    log = slurm.completed(job, JOB_TIMEOUT_S)
    assert "gen.sbatch: 1 Ray nodes, 2 CPUs" in log, log
    assert manifest_complete(out), log
    assert_same_data(out, reference)
    assert_ray_gone(job, slurm)


def test_gen_heights_are_exact(reference):
    """Labels match an independent exact method (LP) on a few rows of every group."""
    from solver.api import m_heights

    for path, table in shards(reference).items():
        rows = table.slice(0, 2).to_pydict()
        k, r = rows["k"][0], rows["n"][0] - rows["k"][0]
        P = np.array(rows["P"], dtype=np.float64).reshape(-1, k, r)
        expected = m_heights(P, rows["m"][0], method="highs")
        np.testing.assert_allclose(rows["height"], expected, rtol=1e-9, err_msg=path)


def test_gen_spreads_over_two_ray_nodes(slurm, reference_slow):
    """One CPU on the head plus a second one-CPU raylet on this machine: both write shards.

    Shards of the slow job: Ray keeps feeding quick tasks to the worker it already leased, so
    tiny ones could all finish on one node before a second worker has started.
    """
    out = slurm.state / "gen-2"
    job = slurm.sbatch("gen.sbatch", [*GEN_SLOW, "--out", out], ["--nodes=1", "--cpus-per-task=1"],
                       env={"MHEIGHT_RAY_EXTRA_LOCAL_NODES": "1"})  # fmt: skip
    log = slurm.completed(job, JOB_TIMEOUT_S)
    assert "gen.sbatch: 2 Ray nodes, 2 CPUs" in log, log
    node_ids = {n for t in shards(out).values() for n in t.column("node_id").to_pylist()}
    assert len(node_ids) == 2, f"shards written by {len(node_ids)} Ray node(s), expected 2"
    assert_same_data(out, reference_slow)
    assert_ray_gone(job, slurm)


def test_gen_resubmitted_after_scancel_equals_uninterrupted_run(slurm, reference_slow):
    total = len(shards(reference_slow))

    out = slurm.state / "gen-cancelled"
    job = slurm.sbatch("gen.sbatch", [*GEN_SLOW, "--out", out], ONE_NODE)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while len(recorded_shards(out)) < 3:  # some shards done, most not
        assert time.monotonic() < deadline, slurm.output(job)
        assert slurm.job(job)["JobState"] in ("PENDING", "RUNNING"), slurm.output(job)
        time.sleep(0.2)
    slurm.scancel(job)
    assert slurm.wait(job, JOB_TIMEOUT_S)["JobState"] == "CANCELLED"
    assert_ray_gone(job, slurm)
    # Shards the manifest records are kept on resume; files written after its last (throttled)
    # save are made again, so only the recorded ones are checked below.
    kept = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in recorded_shards(out)}
    assert 3 <= len(kept) < total and not manifest_complete(out), "not cancelled mid-run"

    job = slurm.sbatch("gen.sbatch", [*GEN_SLOW, "--out", out], ONE_NODE)
    log = slurm.completed(job, JOB_TIMEOUT_S)
    assert manifest_complete(out), log
    assert_same_data(out, reference_slow)
    # Resumed, not redone: the shards written before the scancel were left as they were.
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in kept} == kept
    assert_ray_gone(job, slurm)


@pytest.fixture(scope="session")
def split(slurm, reference) -> Path:
    out = slurm.state / "split"
    proc = slurm.run(
        [slurm.venv / "bin" / "mh-split", reference, "--out", out], timeout=JOB_TIMEOUT_S
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def epochs_logged(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.csv"
    return list(csv.DictReader(path.open())) if path.exists() else []


def test_train_one_epoch_on_cpu(slurm, split):
    run_dir = slurm.state / "run-1"
    job = slurm.sbatch("train.sbatch", ["--data", split, "--out", run_dir, "--epochs", "1",
                                        "--device", "cpu", "--quiet"], ON_CPU)  # fmt: skip
    log = slurm.completed(job, JOB_TIMEOUT_S)
    assert (run_dir / "last.pt").exists() and (run_dir / "report.md").exists(), log
    assert len(epochs_logged(run_dir)) == 1, log


@pytest.mark.parametrize("nproc", [1, 2], ids=["mh-train", "torchrun-2"])
def test_train_saves_on_time_limit_signal_and_resumes(slurm, split, nproc):
    """Alone or as torchrun's DDP workers (gloo on CPU), mh-train gets the warning signal."""
    run_dir = slurm.state / f"run-signal-{nproc}"
    args = ["--data", split, "--out", run_dir, "--device", "cpu", "--quiet", "--patience", "0"]
    env = {"MHEIGHT_NPROC": str(nproc)}
    job = slurm.sbatch("train.sbatch", [*args, "--epochs", "100000"], ON_CPU, env)
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not epochs_logged(run_dir):
        assert time.monotonic() < deadline, slurm.output(job)
        assert slurm.job(job)["JobState"] in ("PENDING", "RUNNING"), slurm.output(job)
        time.sleep(0.5)
    # Exactly what --signal=B:USR1@300 does 300 s before the time limit.
    slurm.scancel(job, "--signal=USR1", "--batch")
    log = slurm.completed(job, JOB_TIMEOUT_S)
    assert "got SIGUSR1" in log and (run_dir / "last.pt").exists(), log
    assert not (run_dir / "report.md").exists(), "stopped early, so no final report"
    before = epochs_logged(run_dir)

    # The same command resubmitted (fewer epochs, so that it ends) continues from last.pt.
    job = slurm.sbatch("train.sbatch", [*args, "--epochs", str(len(before) + 2)], ON_CPU, env)
    log = slurm.completed(job, JOB_TIMEOUT_S)
    after = epochs_logged(run_dir)
    assert (run_dir / "report.md").exists(), log
    assert len(after) == len(before) + 2 and after[: len(before)] == before, log
    assert "mh-train exited with status 0" in log, log
