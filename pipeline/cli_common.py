"""What every data CLI shares: one-line errors, output checks and locks, Ray start-up.

The promise (README): bad input gets one line, exit status 2, and nothing written. So every
command checks its arguments, its output location and its lock before the first write, and
click's own usage errors are one line too.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from filelock import FileLock, Timeout

# How long joining a Ray cluster (--address) may take before mh-gen/mh-solve give up.
CONNECT_TIMEOUT_S = 30.0
# A user's address of the form HOST:PORT (optionally ray://HOST:PORT), checked before ray.init.
_HOST_PORT = re.compile(r"(?:ray://)?(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d+)")


class UsageFailure(click.ClickException):
    """A one-line error for bad input; click prints 'Error: ...' and exits with status 2."""

    exit_code = 2


class RunFailure(click.ClickException):
    """A one-line error for a run that failed after it started (disk full...); exit status 1."""

    exit_code = 1


class DataCommand(click.Command):
    """A click command whose usage errors (bad option values...) are one line as well.

    click prints the usage and a hint before 'Error:' when the error carries its context;
    dropping the context leaves the single line the README promises.
    """

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            exc.ctx = None
            raise


def interrupt_on_sigterm() -> None:
    """Make SIGTERM behave like Ctrl-C (KeyboardInterrupt), so a run stops the same way."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (what a write there will need)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def connect_timeout_option(f):
    """--connect-timeout of the commands that can join a Ray cluster (mh-gen, mh-solve)."""
    return click.option(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT_S,
        show_default=True,
        help="Seconds to wait for the --address cluster before giving up.",
    )(f)


def check_writable(folder: str | Path, what: str) -> None:
    """Raise UsageFailure unless files can be created in ``folder`` (or where it would be made).

    Run before any work, so a read-only mount or a folder without permission is one line and
    nothing written. ``os.access`` also reports a read-only file system for root.
    """
    folder = Path(folder)
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise UsageFailure(f"cannot write {what} {folder}: {base} is not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        readonly = bool(os.statvfs(base).f_flag & os.ST_RDONLY)
        why = "read-only file system" if readonly else "permission denied"
        raise UsageFailure(f"cannot write {what} {folder}: {base} is not writable ({why})")


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
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageFailure(
            f"{what} is being written by another run (it holds {lock_path}); wait for it to "
            "finish or choose another output"
        ) from None
    try:
        yield
    finally:
        lock.release()


class _QuietThreadWarning(logging.Filter):
    """Ray warns when ray.init runs outside the main thread; here that is on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "not the main thread" not in record.getMessage()


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast (ConnectionError) when nothing listens at HOST:PORT, instead of Ray's retries."""
    match = _HOST_PORT.fullmatch(address)
    if not match:
        return  # 'auto' and other forms: left to ray.init, under the same timeout
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {address} ({exc.strerror or exc})") from exc


def init_ray(address: str | None, num_cpus: int | None, *, connect_timeout: float) -> None:
    """Join a cluster (``address``: 'auto' or host:port) or start a local Ray with ``num_cpus``.

    Joining runs ray.init in a helper thread while the main thread waits: Ray's connection
    retries block in C++ for minutes and ignore Ctrl-C and SIGTERM there. If the cluster does
    not answer within ``connect_timeout`` seconds, or the user interrupts, the process prints
    one line and leaves at once (nothing has been written yet: callers connect first).
    """
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if ray.is_initialized():
        return
    target = address or os.environ.get("RAY_ADDRESS")
    if target == "auto":  # ray.init reads the cluster's address from RAY_ADDRESS then
        target = os.environ.get("RAY_ADDRESS") or target
    if not target or target == "local":
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        interrupt_on_sigterm()  # ray.init installs a SIGTERM handler of its own
        return
    _check_reachable(target, connect_timeout)
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(address=address, log_to_driver=False)
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)

    quiet = _QuietThreadWarning()
    logging.getLogger("ray._private.worker").addFilter(quiet)
    thread = threading.Thread(target=connect, name="ray-connect", daemon=True)
    thread.start()
    try:
        thread.join(connect_timeout)
    except KeyboardInterrupt:
        leave(130, "interrupted while connecting to Ray; nothing was written")
    finally:
        logging.getLogger("ray._private.worker").removeFilter(quiet)
    if thread.is_alive():
        leave(
            2,
            f"Error: cannot reach Ray at {target} within {connect_timeout:g} s "
            "(--connect-timeout); is the cluster up?",
        )
    if failure:
        raise failure[0]


def stop_ray() -> None:
    """Shut down this process's Ray connection (and a local Ray it started), if any."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def leave(status: int, line: str) -> None:
    """Print one line and exit now, without waiting for a Ray connection stuck in C++."""
    click.echo(line, err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
