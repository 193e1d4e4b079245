"""What every data CLI shares: one-line errors with exit status 2, Ray start-up."""

from __future__ import annotations

import os

import click


class UsageFailure(click.ClickException):
    """A one-line error for bad input; click prints 'Error: ...' and exits with status 2."""

    exit_code = 2


def init_ray(address: str | None, num_cpus: int | None) -> None:
    """Join a cluster (``address``: 'auto' or host:port) or start a local Ray with ``num_cpus``."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
