"""What every CLI shares (data and training): one-line errors, output checks, output locks.

The promise (README): bad input gets one line, exit status 2, and nothing written. So every
command checks its arguments, its output location and its lock before the first write; code
anywhere raises pipeline.contract.InputError, and :class:`Command` turns it (and click's own
usage errors) into that one line. Imports click and pipeline.contract only (filelock when a
lock is taken), so training's CLIs use it too.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from pipeline.contract import InputError

CONTEXT = {"help_option_names": ["-h", "--help"]}


class BadInput(click.ClickException):
    """Bad input as click reports it: 'Error: ...' on one line, exit status 2."""

    exit_code = 2


class RunFailure(click.ClickException):
    """A one-line error for a run that failed after it started (disk full...); exit status 1."""

    exit_code = 1


class Command(click.Command):
    """A click command whose every kind of bad input is one line and exit status 2.

    InputError raised anywhere inside becomes :class:`BadInput`. click prints the usage and a
    hint before 'Error:' when a usage error carries its context; dropping the context leaves
    the single line the README promises.
    """

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            exc.ctx = None
            raise

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except InputError as exc:
            raise BadInput(" ".join(str(exc).split())) from None


def interrupt_on_sigterm() -> None:
    """Make SIGTERM behave like Ctrl-C (KeyboardInterrupt), so a run stops the same way."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def check_writable(target: str | Path, what: str, *, file: bool = False) -> None:
    """Raise InputError unless ``target`` (a folder to write in, or with ``file`` a file) can be
    created or written there.

    Run before any work, so a read-only mount, a folder without permission or an output of the
    wrong kind is one line and nothing written. ``os.access`` also reports a read-only file
    system for root.
    """
    target = Path(target)
    if file and target.is_dir():
        raise InputError(f"cannot write {what} {target}: it is a folder")
    base = target.absolute()
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir() and not (file and base == target.absolute()):
        raise InputError(f"cannot write {what} {target}: {base} is not a folder")
    folder = base if base.is_dir() else base.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        readonly = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        why = "read-only file system" if readonly else "permission denied"
        raise InputError(f"cannot write {what} {target}: {folder} is not writable ({why})")


def write_failure(exc: OSError, target: str | Path) -> RunFailure:
    """A one-line error for an output write that failed mid-run (disk full, folder gone...)."""
    why = exc.strerror or exc.__class__.__name__
    return RunFailure(f"cannot write {target}: {why}; nothing partial was kept, rerun when fixed")


@contextmanager
def output_lock(lock_path: Path, what: str) -> Iterator[None]:
    """Hold ``lock_path`` (filelock) so one run at a time writes ``what``; refuse a second one.

    The lock is an OS file lock: it goes with its process, so a killed run never leaves a
    stale lock behind. The (empty) lock file itself stays, hidden.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise InputError(
            f"{what} is being written by another run (it holds {lock_path}); wait for it to "
            "finish or choose another output"
        ) from None
    try:
        yield
    finally:
        lock.release()
