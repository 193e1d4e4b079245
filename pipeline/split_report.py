"""The split report: counts and log2(height) spread per (n, k, m) and split, as text and a figure.

Users check a split at a glance before spending GPU hours on it: are the groups balanced, did the
splits of each group get the same height distribution, how much was dropped and why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pipeline.split import GroupSplit

COLORS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868"}


def report_markdown(summary: dict, plan: list[GroupSplit], height: np.ndarray) -> str:
    """Markdown (also readable as plain text): parameters, counts table, log2(height) table."""
    p, t = summary["parameters"], summary["totals"]
    splits = list(plan[0].rows)
    default = " (the smallest group)" if p["per_group_requested"] is None else ""
    lines = [
        "# mh-split report",
        "",
        f"{len(plan)} groups x {p['per_group']} rows{default}; seed {p['seed']}, "
        f"val {p['val_frac']:g}, test {p['test_frac']:g}, dedup {'on' if p['dedup'] else 'off'}.",
        f"Read {t['read']} rows; dropped {t['infinite']} with infinite height and "
        f"{t['duplicate']} duplicates; {t['unused']} usable rows left out by balancing.",
        "",
        "## Rows per group",
        "",
    ]
    columns = ["n", "k", "m", "read", "infinite", "duplicate", "unused", *splits]
    rows = [[str(g[c]) for c in columns] for g in summary["groups"]]
    rows.append(["all", "", "", *(str(t[c]) for c in columns[3:])])
    lines += _table(columns, rows)
    lines += ["", "## log2(height): median [5th, 95th percentile]", ""]
    rows = []
    for g in plan:
        cells = []
        for split in splits:
            q = np.percentile(np.log2(height[g.rows[split]]), [50, 5, 95])
            cells.append(f"{q[0]:.2f} [{q[1]:.2f}, {q[2]:.2f}]")
        rows.append([*map(str, g.key), *cells])
    lines += _table(["n", "k", "m", *splits], rows)
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table padded so the columns also line up in a terminal."""
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, width, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 1) + ":" for w in width) + "|"] + [
        line(r) for r in rows
    ]


def report_figure(plan: list[GroupSplit], height: np.ndarray, path: Path) -> None:
    """Small multiples: one panel per group (rows: n, k; columns: m), splits overlaid."""
    nk = sorted({g.key[:2] for g in plan})
    ms = sorted({g.key[2] for g in plan})
    fig = Figure(figsize=(2.6 * len(ms) + 0.4, 2.0 * len(nk) + 0.9), layout="constrained")
    axes = fig.subplots(len(nk), len(ms), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for g in plan:
        _panel(axes[nk.index(g.key[:2]), ms.index(g.key[2])], g, height)
    first = axes[nk.index(plan[0].key[:2]), ms.index(plan[0].key[2])]
    fig.legend(*first.get_legend_handles_labels(), loc="outside upper right", ncols=3)
    fig.suptitle(
        f"log2(height) per (n, k, m) group: {len(plan)} groups, density per split",
        x=0.01,
        ha="left",
    )
    fig.savefig(path, dpi=90, metadata={"Software": None})


def _panel(ax, group: GroupSplit, height: np.ndarray) -> None:
    """One group's histograms on shared bins; fewer bins when a split is small, so less noise."""
    ax.set_visible(True)
    values = {s: np.log2(height[r]) for s, r in group.rows.items()}
    both = np.concatenate(list(values.values()))
    count = int(np.clip(2 * np.sqrt(min(map(len, values.values()))), 8, 40))
    bins = np.linspace(both.min(), max(both.max(), both.min() + 1e-9), count + 1)
    for split, v in values.items():
        filled = split == "train"
        ax.hist(
            v,
            bins=bins,
            density=True,
            histtype="stepfilled" if filled else "step",
            alpha=0.35 if filled else 1.0,
            color=COLORS[split],
            linewidth=1.4,
            label=f"{split} ({len(v)} per group)",
        )
    n, k, m = group.key
    ax.set_title(f"n={n} k={k} m={m}", fontsize=9)
    ax.set_yticks([])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("log2 h", fontsize=7, labelpad=1)
