"""One leaderboard: every model family trained under the same budget on the same split, scored
on held-out test sets of integer and of real P.

For each training split (--train NAME=SPLIT_DIR, e.g. int=splits/int and real=splits/real)
and each family, this runs the commands a user runs (mh-train, then mh-eval --json on every
--test NAME=PATH), and measures prediction speed on the first test set in-process. It writes
OUT/leaderboard.md (one row per family and training split: overall log2-MSE and the worst
m = n-k group on each test set, the group-mean baseline, train and predict samples/s,
parameters, wall time), OUT/leaderboard.json and OUT/leaderboard.png. Example (the README's):

    python benchmarks/model_zoo.py --train int=data/splits/int --train real=data/splits/real \
        --test int=data/test/int/test --test real=data/test/real/test --out zoo

Every family gets the same split, epochs, batch size, learning rate, seed and threads; its
own options are the recipe this project measured best for it (FAMILY_ARGS). Test sets must
come from another mh-gen seed than the training split, so no row of them was seen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np

from training.settings import WIDE_EXCHANGE, as_flags

# The recipe of each family: minor features for every family that takes them (it learns far
# beyond the raw-input versions), P scaled to unit RMS, no dropout at these budgets.
MINORS = ["--features", "minors", "--p-scale", "auto"]
FAMILY_ARGS = {
    "exchange": ["--model", "exchange", "--p-scale", "auto"],
    "exchange-wide": ["--model", "exchange", "--p-scale", "auto", *as_flags(WIDE_EXCHANGE)],
    "mlp": ["--model", "mlp", *MINORS, "--dropout", "0"],
    "resnet": ["--model", "resnet", *MINORS],
    "vit": ["--model", "vit", *MINORS, "--dropout", "0"],
    "moe-hard": ["--model", "moe-hard", *MINORS, "--dropout", "0"],
    "moe-sparse": ["--model", "moe-sparse", *MINORS, "--dropout", "0"],
    "moe-soft": ["--model", "moe-soft", *MINORS, "--dropout", "0"],
    "classify": ["--model", "classify", *MINORS, "--dropout", "0"],
}


PREDICT_ROWS = 20_000  # a random sample of the first test set times prediction


def named_paths(values: tuple[str, ...], option: str) -> dict[str, Path]:
    """NAME=PATH option values (the path must exist) as {name: path}."""
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not Path(path).exists():
            raise click.BadParameter(
                f"expected NAME=EXISTING_PATH, got {value!r}", param_hint=option
            )
        out[name] = Path(path)
    return out


def _tool(name: str) -> str:
    """The console script installed beside this Python (mh-train, mh-eval)."""
    return str(Path(sys.executable).with_name(name))


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise click.ClickException(f"{' '.join(args[:3])} ... failed:\n{result.stderr[-2000:]}")
    return result


def _predict_rate(checkpoint: Path, test: Path, threads: int) -> float:
    """Rows per second of Predictor.heights on PREDICT_ROWS rows of a test set (model and rows
    loaded before the clock starts)."""
    import torch

    from pipeline.contract import parquet_files
    from training.data import drop_infinite, read_rows
    from training.predict import Predictor

    torch.set_num_threads(threads)
    rows, _ = drop_infinite(read_rows(parquet_files([test]), need_height=True))
    rows = rows.select(np.random.default_rng(0).permutation(len(rows))[:PREDICT_ROWS])
    predictor = Predictor(checkpoint, "cpu")
    predictor.heights(rows.select(np.arange(min(len(rows), 2048))), "warm-up")
    started = time.perf_counter()
    predictor.heights(rows, str(test))
    return len(rows) / (time.perf_counter() - started)


def _worst_top_m(groups: list[dict]) -> tuple[float, str]:
    """Largest log2-MSE among the m = n-k groups, and which group it is."""
    top = [g for g in groups if g["m"] == g["n"] - g["k"]]
    worst = max(top, key=lambda g: g["log2_mse"])
    return worst["log2_mse"], f"({worst['n']},{worst['k']},{worst['m']})"


def train_and_score(
    family: str, split: Path, tests: dict[str, Path], run: Path, common: list[str], threads: int
) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "RAY_AUTH_MODE": "disabled"}
    started = time.perf_counter()
    if not (run / "report.md").exists():  # a finished run is reused: the script resumes
        _run(
            [
                _tool("mh-train"),
                "--data",
                str(split),
                "--resume",
                str(run),
                "--quiet",
                *FAMILY_ARGS[family],
                *common,
            ],
            env,
        )
    wall = time.perf_counter() - started
    metrics = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    header, rows = metrics[0], metrics[1:]
    train_rate = float(np.mean([float(r[header.index("samples_per_s")]) for r in rows]))
    seconds = float(sum(float(r[header.index("seconds")]) for r in rows))
    result = {
        "family": family,
        "train_split": str(split),
        "epochs": len(rows),
        "train_seconds": seconds,
        "wall_seconds": wall,
        "train_samples_per_s": train_rate,
        "parameters": json.loads((run / "config.json").read_text()).get("parameters"),
        "tests": {},
    }
    for name, path in tests.items():
        scored = json.loads(
            _run(
                [_tool("mh-eval"), "--checkpoint", str(run), "--data", str(path), "--json"], env
            ).stdout
        )
        worst, where = _worst_top_m(scored["groups"])
        result["tests"][name] = {
            "log2_mse": scored["log2_mse"],
            "baseline": scored["baseline_log2_mse"],
            "worst_top_m": worst,
            "worst_top_m_group": where,
            "groups": scored["groups"],
        }
    first = next(iter(tests.values()))
    result["predict_samples_per_s"] = _predict_rate(run / "best.pt", first, threads)
    return result


def table(results: list[dict], tests: list[str]) -> str:
    head = ["family", "trained on"]
    for name in tests:
        head += [f"{name} test", f"{name} worst m=n-k", f"{name} baseline"]
    head += ["train samples/s", "predict rows/s", "parameters", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(results, key=lambda r: (r["train_name"], r["tests"][tests[0]]["log2_mse"])):
        cells = [r["family"], r["train_name"]]
        for name in tests:
            t = r["tests"][name]
            cells += [
                f"{t['log2_mse']:.3f}",
                f"{t['worst_top_m']:.3f} {t['worst_top_m_group']}",
                f"{t['baseline']:.3f}",
            ]
        cells += [
            f"{r['train_samples_per_s']:,.0f}",
            f"{r['predict_samples_per_s']:,.0f}",
            f"{r['parameters']:,}" if r["parameters"] else "?",
            f"{r['train_seconds']:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list[dict], tests: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tests), figsize=(6 * len(tests), 4.5), squeeze=False)
    names = sorted({r["train_name"] for r in results})
    families = [f for f in FAMILY_ARGS if any(r["family"] == f for r in results)]
    width = 0.8 / max(1, len(names))
    for ax, test in zip(axes[0], tests, strict=True):
        for j, train in enumerate(names):
            by = {r["family"]: r["tests"][test] for r in results if r["train_name"] == train}
            x = np.arange(len(families)) + j * width
            ax.bar(
                x,
                [by[f]["log2_mse"] if f in by else 0 for f in families],
                width,
                label=f"trained on {train}",
            )
            base = [by[f]["baseline"] for f in families if f in by]
            if base:
                ax.axhline(base[0], color=f"C{j}", linestyle="--", linewidth=1)
        ax.set_xticks(
            np.arange(len(families)) + width * (len(names) - 1) / 2, families, rotation=30
        )
        ax.set_title(f"test set: {test} P (dashed: group-mean baseline)")
        ax.set_ylabel("log2-MSE (mean over (n,k,m) groups)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--train",
    "trains",
    multiple=True,
    required=True,
    help="NAME=SPLIT_DIR (mh-split output); repeatable, e.g. int=... real=...",
)
@click.option(
    "--test",
    "tests",
    multiple=True,
    required=True,
    help="NAME=PATH of a labelled test set no training saw; repeatable.",
)
@click.option("--families", default=",".join(FAMILY_ARGS), show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=2, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="torch threads per run (1 is fastest on a busy 2-core machine).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(trains, tests, families, epochs, batch_size, lr, threads, out) -> None:
    """Train every family on every --train split and score it on every --test set."""
    splits, test_sets = named_paths(trains, "--train"), named_paths(tests, "--test")
    chosen = [f for f in families.split(",") if f]
    unknown = sorted(set(chosen) - set(FAMILY_ARGS))
    if unknown:
        raise click.BadParameter(f"unknown families {unknown}", param_hint="--families")
    common = [
        "--epochs",
        str(epochs),
        "--batch-size",
        str(batch_size),
        "--lr",
        str(lr),
        "--patience",
        "0",
        "--seed",
        "0",
    ]
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for train_name, split in splits.items():
        for family in chosen:
            click.echo(f"{family} on {train_name} ...", err=True)
            run = out / "runs" / f"{train_name}-{family}"
            r = train_and_score(family, split, test_sets, run, common, threads)
            r["train_name"] = train_name
            results.append(r)
            summary = ", ".join(f"{k} {v['log2_mse']:.3f}" for k, v in r["tests"].items())
            click.echo(f"  {summary} ({r['train_seconds']:.0f} s)", err=True)
            (out / "leaderboard.json").write_text(json.dumps(results, indent=2))
    names = list(test_sets)
    text = (
        f"Budget: {epochs} epochs, batch {batch_size}, lr {lr}, seed 0, {threads} thread(s); "
        "log2-MSE averaged over (n,k,m) groups of the test set.\n\n" + table(results, names)
    )
    (out / "leaderboard.md").write_text(text + "\n")
    plot(results, names, out / "leaderboard.png")
    click.echo(text)


if __name__ == "__main__":
    main()
