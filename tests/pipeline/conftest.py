"""Shared fixtures of the pipeline tests: one local Ray per session, CLIs in subprocesses.

Tests that need a Ray with another CPU count, or that kill processes, run the CLI in a
subprocess with a Ray of its own (``run_cli``, ``spawn_cli``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ray_processes import session_processes

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
