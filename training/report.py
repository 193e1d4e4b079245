"""Run outputs for people: metrics.csv (written and read only here), report.md, PNG plots.

Plots use matplotlib's Figure API directly (no pyplot): no display or global backend needed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from training.metrics import Scores, format_table

METRICS_FILE = "metrics.csv"
CURVES_PNG, SCATTER_PNG = "learning_curves.png", "pred_vs_true.png"
SCATTER_POINTS = 2000  # per group, so plots of million-row validation sets stay light


@dataclass(frozen=True)
class EpochRow:
    """One line of metrics.csv; its fields are the file's header, in order."""

    epoch: int
    train_loss: float
    train_log2_mse: float
    val_log2_mse: float
    lr: float
    seconds: float
    samples_per_s: float


METRIC_FIELDS = tuple(f.name for f in fields(EpochRow))


def start_metrics(run_dir: Path) -> None:
    """A fresh metrics.csv holding only the header."""
    with open(run_dir / METRICS_FILE, "w", newline="") as f:
        csv.writer(f).writerow(METRIC_FIELDS)


def append_metrics(run_dir: Path, row: EpochRow) -> None:
    with open(run_dir / METRICS_FILE, "a", newline="") as f:
        csv.DictWriter(f, METRIC_FIELDS).writerow(asdict(row))


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv as one dict of floats per epoch."""
    with open(run_dir / METRICS_FILE, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def plot_learning_curves(rows: list[dict[str, float]], path: Path) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["train_log2_mse"] for r in rows], label="train (per sample)")
    ax.plot(epochs, [r["val_log2_mse"] for r in rows], label="validation (group mean)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("log2-MSE")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_pred_vs_true(pred: np.ndarray, true: np.ndarray, nkm: np.ndarray, path: Path) -> None:
    """One scatter per (n, k, m) group of predicted against true log2 height."""
    groups = np.unique(nkm, axis=0)
    cols = math.ceil(math.sqrt(len(groups)))
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(2.6 * cols, 2.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    rng = np.random.default_rng(0)
    for ax, group in zip(axes.flat, groups, strict=False):  # spare axes are blanked
        idx = np.flatnonzero((nkm == group).all(axis=1))
        if len(idx) > SCATTER_POINTS:
            idx = rng.choice(idx, SCATTER_POINTS, replace=False)
        ax.scatter(true[idx], pred[idx], s=2, alpha=0.4)
        lo, hi = (
            float(min(true[idx].min(), pred[idx].min())),
            float(max(true[idx].max(), pred[idx].max())),
        )
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
        ax.set_title("n={} k={} m={}".format(*group), fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    fig.supxlabel("true log2 height")
    fig.supylabel("predicted log2 height")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(
    run_dir: Path,
    summary: dict[str, Any],
    scores: Scores,
    pred: np.ndarray,
    true: np.ndarray,
    nkm: np.ndarray,
) -> None:
    """report.md plus both plots; written once training has finished."""
    plot_learning_curves(read_metrics(run_dir), run_dir / CURVES_PNG)
    plot_pred_vs_true(pred, true, nkm, run_dir / SCATTER_PNG)
    lines = ["# mh-train report", ""]
    lines += [f"- {key}: {value}" for key, value in summary.items()]
    lines += [
        "",
        "## Validation log2-MSE per (n, k, m) group (best.pt)",
        "",
        f"Overall (mean of per-group means, each group weighing the same): "
        f"**{scores.log2_mse:.4f}**; the group-mean baseline (predicting each group's training "
        f"mean, as the model does before learning anything) scores "
        f"{scores.baseline_log2_mse:.4f}.",
        "",
        format_table(scores.groups),
        "",
        "## Plots",
        "",
        f"![learning curves]({CURVES_PNG})",
        "",
        f"![predicted vs true log2 height]({SCATTER_PNG})",
        "",
    ]
    (run_dir / "report.md").write_text("\n".join(lines))
