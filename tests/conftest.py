"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

# Real labelled data from outside the project, with its provenance: tests/data/README.md.
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def course_sample_path() -> Path:
    """The 4,500 labelled course rows (n = 9, the course's skip-unbounded labels)."""
    return DATA / "course_sample_n9.parquet"


class Tmpfs:
    """A tmpfs mounted on a test's folder: a real read-only or small (full) file system.

    chmod cannot make a folder read-only for root (the tests' user in CI); a read-only mount
    can, for every user. ``remount`` changes its options in place (e.g. ro -> rw, a bigger size).
    """

    def __init__(self, path: Path):
        self.path = path

    def mount(self, options: str) -> None:
        _mount_cmd(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)])

    def remount(self, options: str) -> None:
        _mount_cmd(["mount", "-o", f"remount,{options}", str(self.path)])


def _mount_cmd(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot {' '.join(argv[:2])} a tmpfs here: {result.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    """An unmounted Tmpfs at tmp_path/fs; unmounted again (lazily) at teardown."""
    fs = Tmpfs(tmp_path / "fs")
    fs.path.mkdir()
    yield fs
    subprocess.run(["umount", "-l", str(fs.path)], capture_output=True)


@pytest.fixture
def readonly_dir(tmpfs) -> Path:
    """An empty folder on a read-only file system."""
    tmpfs.mount("ro,size=1m")
    return tmpfs.path
