"""mh-gen in subprocesses with Ray of their own: CPU count, SIGKILL of driver or worker.

Every run must give the rows of one uninterrupted run, with no row missing or duplicated.
The job has 20 small shards of a slower group, so there is time to kill it mid-run.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from ray_processes import kill_a_busy_worker, session_processes
from ray_processes import wait_until as shared_wait_until

from pipeline.cli_gen import main
from pipeline.contract import read_table

JOB = ["--n", "10", "--k", "4", "--m", "3", "--samples", "100000", "--shard-size", "5000",
       "--no-progress"]  # fmt: skip
SHARDS = 20
DEADLINE_S = 120


def rows(out: Path) -> pa.Table:
    """Every row in (group, row) order, without the run-dependent node_id."""
    table = read_table([out]).drop_columns(["node_id"])
    return table.sort_by([("m", "ascending"), ("row", "ascending")])


def parts(out: Path) -> list[Path]:
    return sorted(out.glob("n10_k4_m3/part-*.parquet"))


def wait_until(condition, what: str) -> None:
    shared_wait_until(condition, what, DEADLINE_S)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, ray_session) -> pa.Table:
    """The rows of one uninterrupted run on the session's 2-CPU Ray."""
    out = tmp_path_factory.mktemp("reference") / "ds"
    result = CliRunner().invoke(main, [*JOB, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = rows(out)
    assert table["row"].to_pylist() == list(range(100_000))
    return table


def test_one_cpu_gives_the_same_rows_as_two(tmp_path, run_cli, reference):
    result = run_cli("cli_gen", *JOB, "--out", tmp_path / "ds", "--num-cpus", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on 1 CPU," in result.stdout
    assert rows(tmp_path / "ds").equals(reference)


def test_driver_sigkill_then_rerun_gives_the_same_rows(tmp_path, spawn_cli, reference):
    out = tmp_path / "ds"
    driver = spawn_cli("cli_gen", *JOB, "--out", out, "--num-cpus", "2")
    wait_until(lambda: len(parts(out)) >= 3 or driver.poll() is not None, "the first shards")
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL, driver.stdout.read()
    for pid in session_processes(driver.pid):  # the rest of the job goes down with it
        os.kill(pid, signal.SIGKILL)
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["complete"] and len(parts(out)) < SHARDS

    result = CliRunner().invoke(main, [*JOB, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "intact shards skipped" in result.output
    assert rows(out).equals(reference)
    assert len(parts(out)) == SHARDS and not list(out.rglob("*.tmp"))


def test_worker_sigkill_is_retried_and_gives_the_same_rows(tmp_path, spawn_cli, reference):
    out = tmp_path / "ds"
    driver = spawn_cli("cli_gen", *JOB, "--out", out, "--num-cpus", "2")
    kill_a_busy_worker(driver, out, 1, DEADLINE_S)
    output, _ = driver.communicate(timeout=DEADLINE_S)
    assert driver.returncode == 0, output
    assert rows(out).equals(reference)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and len(manifest["shards"]) == SHARDS
    assert len(parts(out)) == SHARDS and not list(out.rglob("*.tmp"))
