"""Whole-folder atomic output: build everything in a hidden folder beside OUT, then rename.

A split or an import is many files that only make sense together, so a reader must see all of
them or none (a killed run leaves at most a hidden ``.OUT.staging-*`` folder, never a partial OUT).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.cli_common import check_writable, output_lock
from pipeline.contract import InputError


def check_out(out: str | Path, *, overwrite: bool, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse an OUT that would clobber data, or that overlaps an input; return it resolved.

    Called before any work so a refusal costs nothing and writes nothing.
    """
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    check_writable(out.parent, "output folder")  # the staging folder and the rename go there
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")
    for src in (Path(p).resolve() for p in inputs):
        if out == src or out.is_relative_to(src) or src.is_relative_to(out):
            raise InputError(f"--out {out} overlaps input {src}: outputs would be read back")
    return out


def lock_path(out: Path) -> Path:
    """The lock beside ``out`` (OUT itself appears only at the final rename)."""
    return out.parent / f".{out.name}.lock"


@contextmanager
def locked_out(out: Path, *, overwrite: bool) -> Iterator[None]:
    """Hold ``out``'s lock (one writer at a time) and check ``out`` again under it.

    A second run into the same OUT is refused at once instead of doing all its work and then
    finding OUT taken; the check under the lock catches a run that finished meanwhile.
    """
    if lock_path(out).exists():  # refuse before creating anything
        with output_lock(lock_path(out), str(out)):
            pass
    out.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(lock_path(out), str(out)):
        check_out(out, overwrite=overwrite)
        yield


@contextmanager
def staged_folder(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield an empty staging folder; on normal exit it becomes ``out`` in one rename.

    Hold :func:`locked_out` around it, so no other run commits to ``out`` meanwhile.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.staging-{secrets.token_hex(6)}"
    stage.mkdir()  # not mkdtemp: its 0700 mode would carry over to OUT and hide it from a group
    try:
        yield stage
        _commit(stage, out, overwrite=overwrite)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, out: Path, *, overwrite: bool) -> None:
    check_out(out, overwrite=overwrite)
    if out.is_dir() and any(out.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "old")
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, out)  # replaces an empty folder too (POSIX rename)
