"""Helpers of the tests that kill Ray processes: finding a job's processes, waiting, killing.

Plain functions live in helper modules like this one; conftest.py files hold fixtures only.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


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
