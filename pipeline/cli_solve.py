"""mh-solve: exact heights for a Parquet file of (n, k, m, P) rows, or a check of its labels.

Rows keep their order and extra columns; ``height`` plus the provenance columns ``method``
and ``convention`` are added (replaced when present). With --check the labels stay and the
recomputed values go to ``height_recomputed``. Large inputs are labelled on Ray.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pyarrow as pa

from pipeline.cli_common import (
    CONTEXT,
    Command,
    check_writable,
    interrupt_on_sigterm,
    write_failure,
)
from pipeline.contract import InputError, read_table, write_atomic
from pipeline.labelling import (
    CHECK_RTOL,
    CHUNK_ROWS,
    DEVICE_HELP,
    disagreements,
    label_on_ray,
    label_table,
    resolved_methods,
    set_torch_device,
)
from pipeline.ray_runner import connect_timeout_option, init_ray
from solver.api import CONVENTIONS, METHODS, check_options

# Disagreeing rows listed by --check.
SHOW_FIRST = 10


def _with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """``table`` with column ``name`` replaced in place, or appended."""
    i = table.schema.get_field_index(name)
    return table.set_column(i, name, values) if i >= 0 else table.append_column(name, values)


def _report(table: pa.Table, recomputed: np.ndarray, method: str, convention: str) -> int:
    """Print how many labels disagree and the first few; return that count."""
    label = table["height"].to_numpy(zero_copy_only=False).astype(np.float64)
    bad = np.flatnonzero(disagreements(label, recomputed))
    click.echo(
        f"{bad.size:,} of {table.num_rows:,} labels disagree with the recomputed heights "
        f"(method {method}, convention {convention}, relative tolerance {CHECK_RTOL:g})"
    )
    if bad.size:
        click.echo(f"{'row':>8} {'n':>3} {'k':>3} {'m':>3} {'label':>22} {'recomputed':>22}")
    cols = {c: table[c].to_numpy(zero_copy_only=False) for c in ("n", "k", "m")}
    for i in bad[:SHOW_FIRST]:
        click.echo(
            f"{i:>8} {cols['n'][i]:>3} {cols['k'][i]:>3} {cols['m'][i]:>3} "
            f"{label[i]:>22.15g} {recomputed[i]:>22.15g}"
        )
    return int(bad.size)


@click.command(cls=Command, context_settings=CONTEXT)
@click.argument("source", metavar="IN.parquet", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output Parquet file.")
@click.option("--method", default="auto", show_default=True, help=", ".join(METHODS))
@click.option("--device", expose_value=False, callback=set_torch_device, help=DEVICE_HELP)
@click.option("--convention", default="exact", show_default=True, help=", ".join(CONVENTIONS))
@click.option("--check", is_flag=True, help="Compare the existing height labels; exit 1 if off.")
@click.option("--chunk-size", type=int, help="Rows per Ray task; larger inputs use Ray.")
@click.option("--num-cpus", type=int, help="CPUs of the local Ray (default: all).")
@click.option("--address", help="Join a Ray cluster (auto or HOST:PORT); forces Ray.")
@connect_timeout_option
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_context
def main(
    ctx: click.Context,
    source: Path,
    output: Path | None,
    method: str,
    convention: str,
    check: bool,
    chunk_size: int | None,
    num_cpus: int | None,
    address: str | None,
    connect_timeout: float,
    progress: bool,
) -> None:
    """Label IN.parquet with exact m-heights (or --check the labels it has)."""
    interrupt_on_sigterm()
    check_options(method, convention)
    if output is None and not check:
        raise InputError("need -o OUT.parquet (or --check)")
    for name, value in (("--chunk-size", chunk_size), ("--num-cpus", num_cpus)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be >= 1, got {value}")
    if not connect_timeout > 0:
        raise InputError(f"--connect-timeout must be > 0 seconds, got {connect_timeout:g}")
    if output is not None:
        check_writable(output, "output file", file=True)
    table = read_table([source], require_height=check)

    methods = resolved_methods(table, method)
    chunk = chunk_size or min(CHUNK_ROWS[name] for name in set(methods))
    if address is not None or table.num_rows > chunk:
        try:
            init_ray(address, num_cpus, connect_timeout=connect_timeout)
        except ConnectionError as exc:
            raise InputError(f"cannot reach Ray at {address}: {exc}") from exc
        heights = label_on_ray(table, method, convention, chunk_rows=chunk, progress=progress)
    else:
        heights = label_table(table, method, convention)

    disagreeing = _report(table, heights, method, convention) if check else 0
    if output is not None:
        result = _with_column(
            table, "height_recomputed" if check else "height", pa.array(heights, pa.float64())
        )
        result = _with_column(result, "method", pa.array(methods, pa.string()))
        result = _with_column(result, "convention", pa.repeat(convention, table.num_rows))
        try:
            write_atomic(result, output)
        except OSError as exc:
            raise write_failure(exc, output) from exc
    ctx.exit(1 if disagreeing else 0)
