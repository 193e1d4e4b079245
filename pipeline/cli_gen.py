"""mh-gen: exact, reproducible, resumable m-height datasets as Parquet shards, made on Ray.

Groups are the grid --n x --k x --m (each option repeatable; m defaults to 2..n-k for every
(n, k)), --samples rows each, or a --preset. Rerunning the same command resumes; see
pipeline/generate.py for what is skipped and redone. Workers write their shards themselves,
so on a cluster (--address) OUT must be a folder every node sees (a shared filesystem).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from pipeline.cli_common import CONTEXT, Command, interrupt_on_sigterm, write_failure
from pipeline.contract import InputError
from pipeline.labelling import DEVICE_HELP, set_torch_device
from pipeline.manifest import Manifest
from pipeline.plan import DEFAULT_SEED, PRESETS, GenConfig, grid, make_config, spread
from pipeline.ray_runner import TaskFailed, connect_timeout_option, leave, stop_ray
from pipeline.sampling import PDist
from solver.api import METHODS


def _config(
    ns, ks, ms, samples, preset, seed, p_dist, p_range, infinite, convention, method, shard_size
) -> GenConfig:
    """GenConfig from the command line; raises InputError on bad arguments."""
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        given = [name for name, value in (("--n", ns), ("--k", ks), ("--m", ms),
                 ("--samples", samples), ("--p-range", p_range),
                 ("--infinite", infinite)) if value not in (None, ())]  # fmt: skip
        if given:
            raise InputError(f"--preset {preset} fixes {', '.join(given)}; drop them")
        pn, pk, total, dist = PRESETS[preset]
        if p_dist is not None:  # the course grid was labelled for integer and for real P
            dist = PDist(p_dist, dist.lo, dist.hi)
        keys = grid(list(pn), list(pk), None)
        rows = spread(total, len(keys))
    else:
        if not ns or not ks or samples is None:
            raise InputError("need --n, --k and --samples (or --preset)")
        keys = grid(list(ns), list(ks), list(ms) or None)
        rows = [samples] * len(keys)
        lo, hi = p_range if p_range else (-100.0, 100.0)
        dist = PDist(p_dist or "int", lo, hi)
    return make_config(
        keys,
        rows,
        seed=seed,
        p_dist=dist,
        infinite=infinite or "resample",
        convention=convention,
        method=method,
        shard_size=shard_size,
    )


@click.command(cls=Command, context_settings=CONTEXT)
@click.option("--n", "ns", type=int, multiple=True, help="Code length (repeatable: a grid).")
@click.option("--k", "ks", type=int, multiple=True, help="Dimension (repeatable: a grid).")
@click.option("--m", "ms", type=int, multiple=True, help="Height index (repeatable) [2..n-k].")
@click.option("--samples", type=int, help="Rows per (n, k, m) group.")
@click.option(
    "--preset",
    help="course-1m: n in {9,10}, k in {4,5,6}, m in 2..n-k (21 groups), 1,000,000 rows spread "
    "evenly (the first groups get one more), P in [-100, 100] (integers, or with --p-dist real "
    "the 2025 course's float32 reals), resampled to finite.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Output folder.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option(
    "--p-dist", help="P entries: int (uniform integers) or real (uniform, float32 values) [int]."
)
@click.option("--p-range", nargs=2, type=float, help="P entries in [LO, HI] [-100 100].")
@click.option("--infinite", help="Infinite heights: resample (redraw) or keep [resample].")
@click.option("--convention", default="exact", show_default=True, help="exact|skip-unbounded")
@click.option("--method", default="auto", show_default=True, help=", ".join(METHODS))
@click.option("--device", expose_value=False, callback=set_torch_device, help=DEVICE_HELP)
@click.option("--shard-size", type=int, help="Rows per shard [50,000 for vertex, less for LPs].")
@click.option("--num-cpus", type=int, help="CPUs of the local Ray (default: all).")
@click.option("--address", help="Join a Ray cluster: auto or HOST:PORT.")
@connect_timeout_option
@click.option("--overwrite", is_flag=True, help="Replace a dataset made with other arguments.")
@click.option("--dry-run", is_flag=True, help="Print the plan and a time estimate only.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def main(
    ns, ks, ms, samples, preset, out, seed, p_dist, p_range, infinite, convention, method,
    shard_size, num_cpus, address, connect_timeout, overwrite, dry_run, progress,
) -> None:  # fmt: skip
    """Generate labelled instances (n, k, m, P, height) into OUT, one Parquet shard per task."""
    interrupt_on_sigterm()
    if num_cpus is not None and num_cpus < 1:
        raise InputError(f"--num-cpus must be >= 1, got {num_cpus}")
    if not connect_timeout > 0:
        raise InputError(f"--connect-timeout must be > 0 seconds, got {connect_timeout:g}")
    try:
        config = _config(
            ns, ks, ms, samples, preset, seed, p_dist, p_range, infinite, convention, method,
            shard_size,
        )  # fmt: skip
        if dry_run:
            _dry_run(config, out, num_cpus, overwrite)
            return
        if out is None:
            raise InputError("need --out")
        from pipeline.costs import describe
        from pipeline.generate import generate

        summary = generate(
            config, out, overwrite=overwrite, address=address, num_cpus=num_cpus,
            connect_timeout=connect_timeout, progress=progress, arguments=_arguments(),
        )  # fmt: skip
    except KeyboardInterrupt:
        stop_ray()
        # os._exit: Ray's own exit hooks can abort the process (exit 1) with tasks in flight
        leave(130, "interrupted: rerun the same command to resume")
    except ConnectionError as exc:
        raise InputError(f"cannot reach Ray at {address}: {exc}") from exc
    except TaskFailed as exc:
        raise click.ClickException(f"a shard failed: {exc}") from exc
    except OSError as exc:  # a full disk, a folder removed mid-run (in the driver or a task)
        raise write_failure(exc, out) from exc
    click.echo(describe(summary))


def _arguments() -> dict:
    """This command's parsed options, as JSON values, for the manifest's run history."""
    params = click.get_current_context().params
    return {
        key: list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v
        for key, v in params.items()
    }


def _dry_run(config: GenConfig, out: Path | None, num_cpus: int | None, overwrite: bool) -> None:
    """Print the plan; with an existing OUT, also what it already holds. Writes nothing."""
    from pipeline.estimate import describe_plan

    recorded = 0
    if out is not None:
        recorded = len(Manifest.load(out, config, overwrite=overwrite).shards)
    click.echo(describe_plan(config, num_cpus or os.cpu_count() or 1, recorded))
