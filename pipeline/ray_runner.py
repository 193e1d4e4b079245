"""Ray for the data CLIs: joining or starting it, and the one scheduling loop of their tasks.

Joining a cluster must fail fast and stay interruptible (Ray's retries block in C++). Tasks run
bounded in flight (a ray.wait loop), so a million-task plan never floods the scheduler, results
are handled as each task finishes, and a task's own error reaches the driver as itself.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import click

from pipeline.cli_common import interrupt_on_sigterm
from pipeline.contract import InputError, first_line

# Ray re-runs a task this many times when its worker process or node dies.
MAX_RETRIES = 3
# How long joining a Ray cluster (--address) may take before mh-gen/mh-solve give up.
CONNECT_TIMEOUT_S = 30.0
# A user's address of the form HOST:PORT (optionally ray://HOST:PORT), checked before ray.init.
_HOST_PORT = re.compile(r"(?:ray://)?(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d+)")


class TaskFailed(Exception):
    """A Ray task raised something other than bad input or a failed write (a bug, a solver
    failure); the task's own exception is the cause."""


def connect_timeout_option(f):
    """--connect-timeout of the commands that can join a Ray cluster (mh-gen, mh-solve)."""
    return click.option(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT_S,
        show_default=True,
        help="Seconds to wait for the --address cluster before giving up.",
    )(f)


def cluster_cpus() -> int:
    """CPUs of the Ray cluster this driver is connected to."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def gpu_options() -> dict[str, Any]:
    """Ray task options for --device cuda (--method vertex-torch): one GPU per task, and the
    device setting carried to workers on every node (a cluster's workers do not inherit the
    driver's environment). Refused at once when the cluster has no GPU, instead of waiting
    forever for one."""
    import ray

    from solver.torch_backend import DEVICE_ENV

    device = os.environ.get(DEVICE_ENV, "")
    if not device.startswith("cuda"):
        return {}
    if ray.cluster_resources().get("GPU", 0) < 1:
        raise InputError(f"--device {device} asks for a GPU, but the Ray cluster has none")
    return {"num_gpus": 1, "runtime_env": {"env_vars": {DEVICE_ENV: device}}}


def run_bounded(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    on_done: Callable[[int, Any], None],
    *,
    max_in_flight: int,
) -> None:
    """Run ``fn(*calls[i])`` as Ray tasks and call ``on_done(i, result)`` as each one finishes.

    A task that raises stops the run: the other tasks are cancelled, and its error is raised
    here as itself when it is bad input (InputError) or a failed write (OSError), else as
    TaskFailed.
    """
    import ray

    remote = ray.remote(max_retries=MAX_RETRIES, **gpu_options())(fn)
    in_flight: dict[Any, int] = {}
    queue = iter(enumerate(calls))
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) < max_in_flight:
                item = next(queue, None)
                if item is None:
                    exhausted = True
                else:
                    in_flight[remote.remote(*item[1])] = item[0]
            if not in_flight:
                return
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    if isinstance(exc.cause, (InputError, OSError)):
                        raise exc.cause from None
                    raise TaskFailed(first_line(exc.cause)) from exc
                on_done(in_flight.pop(ref), result)
    except KeyboardInterrupt:
        # The driver's shutdown stops its own tasks. Force-cancelling them here races their
        # replies, and Ray's core worker then aborts the whole process on a failed check
        # ("Tried to complete task that was not pending"), turning exit 130 into a crash.
        in_flight.clear()
        raise
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)


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
