"""The one Ray scheduling loop of the data CLIs: bounded in-flight tasks, retried on worker death.

At most ``max_in_flight`` tasks are submitted at a time (a ray.wait loop), so a million-task
plan never floods the scheduler and results are handled as soon as each task finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# Ray re-runs a task this many times when its worker process or node dies.
MAX_RETRIES = 3


def cluster_cpus() -> int:
    """CPUs of the Ray cluster this driver is connected to."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


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

    remote = ray.remote(max_retries=MAX_RETRIES)(fn)
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
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
