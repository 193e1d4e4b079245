"""CPU prediction rate (rows/s) of trained checkpoints and of model configurations, per thread
count.

Issue 9 asks for >= 20,000 rows/s on CPU for the default recipe. That is measured on trained
checkpoints (--checkpoint NAME=RUN, repeatable): trained poolings are sharper than fresh ones,
which changes how often exchange redoes an underflowed set. Fresh models of each variant
(VARIANTS) show the relative cost of the configurations. Rows are the course grid's (integer
P in [-100, 100]) in random order, as a user's file would be, scored by Predictor.heights,
what mh-eval and mh-predict call (model and rows in memory before the clock starts). Example:

    OMP_NUM_THREADS=2 python benchmarks/predict_rate.py --threads 1,2 \
        --checkpoint default-int=runs/default-int --checkpoint default-real=runs/default-real
"""

from __future__ import annotations

import time

import click
import numpy as np
import torch
from model_zoo import named_paths  # a script beside this one

from training.data import rows_from_table
from training.models import DataSummary, build_model, make_model_config
from training.predict import Predictor
from training.settings import WIDE_EXCHANGE, TrainSettings, as_flags
from training.synthetic import course_grid, synthetic_table

TARGET_ROWS_PER_S = 20_000
# name -> (mh-train flags, settings); the default recipe first
VARIANTS = {
    "default": ("--model exchange", dict(model="exchange")),
    "wide": (
        " ".join(["--model exchange", *as_flags(WIDE_EXCHANGE)]),
        dict(model="exchange", **WIDE_EXCHANGE),
    ),
    "small": ("--model exchange --hidden 8", dict(model="exchange", hidden=8)),
    "mlp": ("--model mlp", dict(model="mlp")),
}


def rate(predictor: Predictor, rows, repeats: int) -> float:
    """Best of ``repeats`` timed passes over all rows, in rows per second of wall time."""
    predictor.heights(rows, "warm-up")  # index tables, allocator
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predictor.heights(rows, "timed")
        best = min(best, time.perf_counter() - start)
    return rows.nkm.shape[0] / best


@click.command()
@click.option("--rows", default=21_000, show_default=True, help="Rows scored per pass.")
@click.option("--threads", default="1,2", show_default=True, help="Comma-separated counts.")
@click.option("--repeats", default=3, show_default=True, help="Timed passes (best is kept).")
@click.option(
    "--only", default=",".join(VARIANTS), show_default=True, help="Comma-separated variants."
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    help="NAME=RUN: a trained run (or .pt) to time too; repeatable.",
)
def main(rows: int, threads: str, repeats: int, only: str, checkpoints: tuple[str, ...]) -> None:
    """Print a table of prediction rows/s per checkpoint and variant and thread count."""
    table = synthetic_table(course_grid(), max(1, rows // 21), seed=0)
    table = table.take(np.random.default_rng(0).permutation(table.num_rows))
    data = rows_from_table(table, "synthetic", need_height=True)
    log2 = np.log2(data.height)
    summary = DataSummary(6, float(log2.mean()), [], float(np.ceil(log2.max())), [])
    counts = [int(t) for t in threads.split(",")]
    models = {f"trained {name}": (str(path), Predictor(path)) for name, path in
              named_paths(checkpoints, "--checkpoint").items()}  # fmt: skip
    for name in only.split(","):
        if name not in VARIANTS:
            raise click.BadParameter(f"unknown variant {name!r}", param_hint="--only")
        flags, settings = VARIANTS[name]
        torch.manual_seed(0)
        model = build_model(make_model_config(TrainSettings(**settings), summary, p_scale=58.0))
        models[f"fresh {name}"] = (flags, Predictor(model))
    click.echo(f"{len(log2):,} course-grid rows, shuffled; rows/s of wall time (best of {repeats})")
    click.echo("| model | run or flags | " + " | ".join(f"{t} thread(s)" for t in counts) + " |")
    click.echo("|---|---|" + "---:|" * len(counts))
    for name, (what, predictor) in models.items():
        rates = []
        for t in counts:
            torch.set_num_threads(t)
            rates.append(rate(predictor, data, repeats))
        click.echo(f"| {name} | {what} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")
        if name.startswith("trained default"):
            verdict = "PASS" if max(rates) >= TARGET_ROWS_PER_S else "FAIL"
            best = f"{max(rates):,.0f} rows/s"
            click.echo(f"<!-- {name}: {best}, target {TARGET_ROWS_PER_S:,}: {verdict} -->")


if __name__ == "__main__":
    main()
