"""Where mh-gen's time goes: solver vs sampling vs Parquet writing vs Ray overhead.

Ray overhead is what the wall clock shows beyond the tasks' own busy time spread over the
CPUs: wall - sum(busy) / cpus (scheduling, transfers, worker start-up, idle tail).
"""

from __future__ import annotations

from collections.abc import Iterable

_SUMMED = ("rows", "redraws", "sample_s", "solve_s", "write_s", "busy_s")


def totals(records: Iterable[dict]) -> dict:
    """Rows, redraws and task seconds summed over shard records."""
    records = list(records)
    return {key: sum(r[key] for r in records) for key in _SUMMED}


def summarize(
    records: list[dict], *, wall_s: float, cpus: int, startup_s: float, skipped: list[int]
) -> dict:
    """Totals of this run's shard records; ``skipped`` holds the row counts of intact shards."""
    total = totals(records)
    return {
        "shards_written": len(records),
        "rows_written": total["rows"],
        "shards_skipped": len(skipped),
        "rows_skipped": sum(skipped),
        "nodes": len({r["node_id"] for r in records}),
        "cpus": cpus,
        "ray_startup_s": startup_s,
        "wall_s": wall_s,
        "rows_per_s": total["rows"] / wall_s if wall_s > 0 else 0.0,
        "redraws": total["redraws"],
        "busy_s": total["busy_s"],
        "sample_s": total["sample_s"],
        "solve_s": total["solve_s"],
        "write_s": total["write_s"],
        "ray_overhead_s": wall_s - total["busy_s"] / cpus if records else 0.0,
    }


def describe(s: dict) -> str:
    """A few lines for the end of a run."""
    if not s["shards_written"]:
        rows = s["rows_skipped"]
        return f"nothing to do: all {s['shards_skipped']} shards ({rows:,} rows) are intact"
    other = s["busy_s"] - s["sample_s"] - s["solve_s"] - s["write_s"]
    return "\n".join(
        [
            f"wrote {s['rows_written']:,} rows in {s['shards_written']} shards "
            f"({s['shards_skipped']} intact shards skipped) on {s['cpus']} CPU"
            f"{'s' if s['cpus'] != 1 else ''}, "
            f"{s['nodes']} node(s)",
            f"wall {s['wall_s']:.2f} s ({s['rows_per_s']:,.0f} rows/s), "
            f"plus Ray start-up {s['ray_startup_s']:.2f} s",
            f"task busy {s['busy_s']:.2f} s: solve {s['solve_s']:.2f} s, "
            f"sampling {s['sample_s']:.2f} s, Parquet writing {s['write_s']:.2f} s, "
            f"other {other:.2f} s",
            f"Ray overhead (wall - busy/cpus) {s['ray_overhead_s']:.2f} s; "
            f"redraws of infinite rows {s['redraws']:,}",
        ]
    )
