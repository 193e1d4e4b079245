"""Shared fixtures of the pipeline tests: one local Ray per session, CLIs in subprocesses.

Tests that need a Ray with another CPU count, or that kill processes, run the CLI in a
subprocess with a Ray of its own (``run_cli``, ``spawn_cli``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def ray_session():
    """One local 2-CPU Ray for every in-process test that needs it."""
    import ray

    # address="local": always a fresh instance, never a `ray start` cluster of this machine.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _argv(module: str, args: tuple) -> list[str]:
    return [sys.executable, "-c", f"from pipeline.{module} import main; main()", *map(str, args)]


# A fresh local Ray for every CLI subprocess, whatever clusters run on this machine.
_ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "local"}


@pytest.fixture
def run_cli():
    """Run a pipeline CLI (``module``'s main) to completion in a subprocess with its own Ray."""

    def run(module: str, *args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            _argv(module, args), env=_ENV, capture_output=True, text=True, timeout=timeout
        )

    return run


def session_processes(sid: int) -> dict[int, str]:
    """pid -> command line of every live process in session ``sid`` (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


@pytest.fixture
def spawn_cli():
    """Start a pipeline CLI in a new session; on teardown kill whatever that session left."""
    started: list[subprocess.Popen] = []

    def spawn(module: str, *args: str | Path) -> subprocess.Popen:
        proc = subprocess.Popen(
            _argv(module, args),
            env=_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
        for pid in session_processes(proc.pid):  # Ray daemons the killed driver left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def processes_in_session():
    """The ``session_processes`` helper, for tests that look for a worker to kill."""
    return session_processes


def wait_until(condition, what: str, limit: float) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def kill_a_busy_worker(driver, out: Path, shards_done: int, limit: float) -> None:
    """SIGKILL one Ray worker running gen_shard for ``driver``'s mh-gen once ``out`` holds
    ``shards_done`` shards; fails if the job finished first."""
    victims: list[int] = []

    def worker_busy() -> bool:
        if driver.poll() is not None:
            return True
        found = session_processes(driver.pid)
        victims[:] = [pid for pid, cmd in found.items() if cmd.startswith("ray::gen_shard")]
        return bool(victims) and len(list(out.glob("n*/part-*.parquet"))) >= shards_done

    wait_until(worker_busy, "a worker running gen_shard", limit)
    assert victims, "the job finished before a worker could be killed"
    os.kill(victims[0], signal.SIGKILL)
