"""mh-gen --dry-run: the plan and a time estimate from a quick in-process calibration, or from
the solver's cost model where even one row would take too long to probe (answers in seconds)."""

from __future__ import annotations

import time

import numpy as np

from pipeline.plan import GenConfig, Group
from pipeline.sampling import shard_rng
from solver.api import m_heights, method_seconds

# Per group: label batches of doubling size until one takes this long (or MAX rows).
CALIBRATION_S = 0.1
CALIBRATION_MAX_ROWS = 4096
# Groups whose model estimate exceeds this per row are not probed: the model answers.
PROBE_MAX_S_PER_ROW = 0.05


def calibrate(config: GenConfig, group: Group) -> tuple[float, float, str]:
    """(rows/s on one core, fraction of infinite rows, "measured" or "model") for one group.

    Measured on a few rows where the cost model expects them to be quick; otherwise the model's
    rate (the infinite fraction is then unknown and taken as 0).
    """
    modelled = method_seconds(group.method, group.n, group.k, group.m)
    if modelled > PROBE_MAX_S_PER_ROW:
        return 1.0 / modelled, 0.0, "model"
    rng = shard_rng(config.seed, group.n, group.k, group.m, 0)
    k, r = group.k, group.n - group.k

    def label(rows: int) -> tuple[float, np.ndarray]:
        P = config.p_dist.draw(rng, rows, k, r)
        start = time.perf_counter()
        h = m_heights(P, group.m, method=group.method, convention=config.convention)
        return time.perf_counter() - start, h

    label(1)  # builds the solver's per-shape tables, which a worker also does once
    rows = 1
    while True:
        elapsed, h = label(rows)
        if elapsed >= CALIBRATION_S or rows >= CALIBRATION_MAX_ROWS:
            return rows / max(elapsed, 1e-9), float(np.isinf(h).mean()), "measured"
        rows *= 2


def describe_plan(config: GenConfig, cpus: int, recorded: int) -> str:
    """One line per group and a total: rows, shards, method, estimated core-seconds."""
    lines = [f"{'group':<14} {'rows':>10} {'shards':>6}  {'method':<7} {'rows/s/core':>11} "
             f"{'inf %':>6} {'core-s':>8}  rate"]  # fmt: skip
    core_s = 0.0
    for g in config.groups:
        rate, inf, source = calibrate(config, g)
        # With resampling each row costs 1/(1-inf) draws on average.
        cost = g.rows / rate / (1.0 - inf if config.infinite == "resample" and inf < 1 else 1.0)
        core_s += cost
        lines.append(
            f"{g.name:<14} {g.rows:>10,} {len(g.shards()):>6}  {g.method:<7} {rate:>11,.0f} "
            f"{100 * inf:>6.2f} {cost:>8.1f}  {source}"
        )
    shards = len(config.shards())
    lines.append(
        f"total: {len(config.groups)} groups, {config.rows:,} rows, {shards} shards "
        f"({recorded} already recorded in the output folder); "
        f"estimated {core_s:.1f} core-s, about {core_s / min(cpus, shards):.1f} s on {cpus} CPUs "
        "plus Ray start-up"
    )
    if shards < cpus:
        # One shard is one task: the shard layout (not the CPU count) fixes the random streams,
        # so it cannot adapt to the cluster by itself without changing the data.
        lines.append(
            f"warning: {shards} shards for {cpus} CPUs leaves {cpus - shards} idle; "
            "a smaller --shard-size spreads the work (and changes the rows drawn)"
        )
    return "\n".join(lines)
