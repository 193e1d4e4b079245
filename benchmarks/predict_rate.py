"""CPU prediction rate (rows/s) of exchange configurations and the mlp, per thread count.

Issue 9 asks for >= 20,000 rows/s on CPU for the default recipe. Speed does not depend on
the weights, so each variant is a freshly built model; rows are the course grid's (integer P
in [-100, 100]), shuffled as a user's file would be, scored by the same predict_log2 that
mh-eval and mh-predict use (model and rows in memory before the clock starts). Example:

    OMP_NUM_THREADS=2 python benchmarks/predict_rate.py --threads 1,2
"""

from __future__ import annotations

import time

import click
import numpy as np
import torch

from training.data import rows_from_table, to_tensors
from training.inference import predict_log2
from training.models import DataSummary, build_model, make_model_config
from training.settings import TrainSettings
from training.synthetic import course_grid, synthetic_table

TARGET_ROWS_PER_S = 20_000
# name -> (mh-train flags, settings); the default recipe first
VARIANTS = {
    "default": ("--model exchange", dict(model="exchange")),
    "mid": (
        "--pool-channels 4,2 --hidden 16 --tokens 8",
        dict(model="exchange", pool_channels=(4, 2), hidden=16, tokens=8),
    ),
    "small": (
        "--pool-channels 2,2 --hidden 8 --tokens 8",
        dict(model="exchange", pool_channels=(2, 2), hidden=8, tokens=8),
    ),
    "linear": (
        "--pool-channels 2,2 --hidden 0 --tokens 8",
        dict(model="exchange", pool_channels=(2, 2), hidden=0, tokens=8),
    ),
    "mlp": ("--model mlp", dict(model="mlp")),
}


def rate(settings: TrainSettings, data, summary: DataSummary, repeats: int) -> float:
    """Best of ``repeats`` timed passes over all rows, in rows per second of wall time."""
    torch.manual_seed(0)
    model = build_model(make_model_config(settings, summary, p_scale=58.0))
    predict_log2(model, data)  # warm-up: index tables, allocator
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict_log2(model, data)
        best = min(best, time.perf_counter() - start)
    return len(data) / best


@click.command()
@click.option("--rows", default=21_000, show_default=True, help="Rows scored per pass.")
@click.option("--threads", default="1,2", show_default=True, help="Comma-separated counts.")
@click.option("--repeats", default=2, show_default=True, help="Timed passes (best is kept).")
@click.option(
    "--only", default=",".join(VARIANTS), show_default=True, help="Comma-separated variants."
)
def main(rows: int, threads: str, repeats: int, only: str) -> None:
    """Print a table of prediction rows/s per variant and thread count."""
    grid = course_grid()
    table = synthetic_table(grid, max(1, rows // len(grid)), seed=0)
    table = table.take(np.random.default_rng(0).permutation(table.num_rows))
    data = to_tensors(rows_from_table(table, "synthetic", need_height=True), 6, torch.device("cpu"))
    summary = DataSummary(6, float(data.y.mean()), [], float(data.y.max().ceil()), [])
    counts = [int(t) for t in threads.split(",")]
    click.echo(f"{len(data):,} course-grid rows, shuffled; rows/s of wall time (best of {repeats})")
    click.echo(
        "| variant | mh-train flags | " + " | ".join(f"{t} thread(s)" for t in counts) + " |"
    )
    click.echo("|---|---|" + "---:|" * len(counts))
    for name in only.split(","):
        if name not in VARIANTS:
            raise click.BadParameter(f"unknown variant {name!r}", param_hint="--only")
        flags, settings = VARIANTS[name]
        rates = []
        for t in counts:
            torch.set_num_threads(t)
            rates.append(rate(TrainSettings(**settings), data, summary, repeats))
        click.echo(f"| {name} | {flags} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")
        if name == "default":
            verdict = "PASS" if max(rates) >= TARGET_ROWS_PER_S else "FAIL"
            click.echo(
                f"<!-- default recipe: {max(rates):,.0f} rows/s, target "
                f"{TARGET_ROWS_PER_S:,}: {verdict} -->"
            )


if __name__ == "__main__":
    main()
