"""mh-split: balanced, stratified, leak-free train/val(/test) splits of labelled shards."""

from __future__ import annotations

import click

from pipeline.cli_common import CONTEXT, Command, interrupt_on_sigterm, write_failure
from pipeline.contract import InputError
from pipeline.split import SplitParams, plan_split, read_labelled
from pipeline.split_output import FORMATS, write_split
from pipeline.split_report import report_figure, report_markdown
from pipeline.staging import check_out, locked_out, staged_folder


@click.command(cls=Command, context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, type=click.Path(path_type=str))
@click.option("--out", "out", type=click.Path(path_type=str), help="Output folder (required).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling.")
@click.option("--val-frac", type=float, default=0.2, show_default=True, help="Share for val/.")
@click.option(
    "--test-frac", type=float, default=0.0, show_default=True, help="Share for test/ (0: none)."
)
@click.option(
    "--per-group",
    type=int,
    default=None,
    help="Rows per (n,k,m) group; more than the smallest group has is an error. "
    "[default: the smallest group's size]",
)
@click.option(
    "--dedup/--no-dedup",
    default=True,
    show_default=True,
    help="Keep one row per identical (n,k,m,P).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="parquet", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out folder.")
def main(
    inputs: tuple[str, ...],
    out: str | None,
    seed: int,
    val_frac: float,
    test_frac: float,
    per_group: int | None,
    dedup: bool,
    fmt: str,
    overwrite: bool,
) -> None:
    """Split labelled Parquet shards (files or folders, e.g. mh-gen output) into OUT/train,
    OUT/val and, with --test-frac, OUT/test: one file per (n,k,m) group, every group with the
    same number of rows.

    Rows with infinite height are dropped. An instance is (n,k,m,P): identical instances always
    share a split, so nothing leaks between splits even with --no-dedup. The result depends only
    on the set of input rows and --seed (not on file order), and is written whole or not at all.
    OUT also gets split.json (counts, parameters), report.md and report.png.

    --format pickle writes the course's pickled DataFrames (n, k, m, result, P; no provenance
    columns) instead of Parquet, as OUT/train/n9_k4_m2.pkl etc.; --format both writes both.
    """
    interrupt_on_sigterm()
    params = SplitParams(seed, val_frac, test_frac, per_group, dedup)
    if not inputs:
        raise InputError("no inputs: name at least one Parquet file or folder")
    if not out:
        raise InputError("missing --out: name the folder to write the splits to")
    params.check()
    target = check_out(out, overwrite=overwrite, inputs=inputs)
    table = read_labelled(list(inputs))
    plan = plan_split(table, params)
    height = table["height"].to_numpy(zero_copy_only=False)
    try:
        with (
            locked_out(target, overwrite=overwrite),
            staged_folder(target, overwrite=overwrite) as stage,
        ):
            summary = write_split(table, plan, params, stage, fmt=fmt, inputs=list(inputs))
            report = report_markdown(summary, plan, height)
            (stage / "report.md").write_text(report)
            report_figure(plan, height, stage / "report.png")
    except OSError as exc:
        raise write_failure(exc, target) from exc
    click.echo(report, nl=False)
    click.echo(f"wrote {target}")
