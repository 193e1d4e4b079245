"""The one Ray scheduling loop of the data CLIs: bounded in-flight tasks, retried on worker death.

At most ``max_in_flight`` tasks are submitted at a time (a ray.wait loop), so a million-task
plan never floods the scheduler and results are handled as soon as each task finishes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

# Ray re-runs a task this many times when its worker process or node dies.
MAX_RETRIES = 3


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

    from pipeline.cli_common import UsageFailure
    from solver.torch_backend import DEVICE_ENV

    device = os.environ.get(DEVICE_ENV, "")
    if not device.startswith("cuda"):
        return {}
    if ray.cluster_resources().get("GPU", 0) < 1:
        raise UsageFailure(f"--device {device} asks for a GPU, but the Ray cluster has none")
    return {"num_gpus": 1, "runtime_env": {"env_vars": {DEVICE_ENV: device}}}


def run_bounded(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    on_done: Callable[[int, Any], None],
    *,
    max_in_flight: int,
) -> None:
    """Run ``fn(*calls[i])`` as Ray tasks and call ``on_done(i, result)`` as each one finishes.

    A task that raises stops the run: the other tasks are cancelled and the error re-raised.
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
                on_done(in_flight.pop(ref), ray.get(ref))
    except KeyboardInterrupt:
        # The driver's shutdown stops its own tasks. Force-cancelling them here races their
        # replies, and Ray's core worker then aborts the whole process on a failed check
        # ("Tried to complete task that was not pending"), turning exit 130 into a crash.
        in_flight.clear()
        raise
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
