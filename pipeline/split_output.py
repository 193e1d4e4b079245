"""Write a planned split: one file per (n, k, m) per split, and split.json describing it all.

The caller hands over a staging folder (pipeline.staging), so files are written plainly here and
become visible together. Output bytes depend only on the rows and parameters (no timestamps, no
absolute paths), which is what makes reruns byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.legacy_pickle import write_legacy
from pipeline.split import GroupSplit, SplitParams

_PARQUET = (".parquet", pq.write_table)
_PICKLE = (".pkl", write_legacy)
WRITERS = {"parquet": [_PARQUET], "pickle": [_PICKLE], "both": [_PARQUET, _PICKLE]}
FORMATS = tuple(WRITERS)


def group_name(key: tuple[int, int, int]) -> str:
    """File stem of a group, e.g. n9_k4_m2."""
    n, k, m = key
    return f"n{n}_k{k}_m{m}"


def write_split(
    table: pa.Table,
    plan: list[GroupSplit],
    params: SplitParams,
    folder: Path,
    *,
    fmt: str,
    inputs: list[str],
) -> dict:
    """Write every split file and split.json under ``folder``; return the split.json content."""
    files = {}
    for group in plan:
        for split, rows in group.rows.items():
            part = table.take(pa.array(rows))
            (folder / split).mkdir(exist_ok=True)
            for suffix, write in WRITERS[fmt]:
                name = f"{split}/{group_name(group.key)}{suffix}"
                write(part, folder / name)
                files[name] = _describe(folder / name, part)
    summary = _summary(plan, params, fmt=fmt, inputs=inputs, files=files)
    (folder / "split.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _describe(path: Path, part: pa.Table) -> dict:
    return {"rows": part.num_rows, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _summary(
    plan: list[GroupSplit], params: SplitParams, *, fmt: str, inputs: list[str], files: dict
) -> dict:
    groups = [
        {
            "n": g.key[0],
            "k": g.key[1],
            "m": g.key[2],
            "read": g.read,
            "infinite": g.infinite,
            "duplicate": g.duplicate,
            "unused": g.usable - sum(len(r) for r in g.rows.values()),
            **{split: len(rows) for split, rows in g.rows.items()},
        }
        for g in plan
    ]
    totals = {
        name: sum(g[name] for g in groups)
        for name in ("read", "infinite", "duplicate", "unused", *plan[0].rows)
    }
    return {
        "tool": "mh-split",
        "version": version("mheight"),
        "inputs": inputs,
        "parameters": {
            "seed": params.seed,
            "val_frac": params.val_frac,
            "test_frac": params.test_frac,
            "per_group_requested": params.per_group,
            "per_group": sum(len(r) for r in plan[0].rows.values()),
            "dedup": params.dedup,
            "format": fmt,
        },
        "totals": totals,
        "groups": groups,
        "files": files,
    }
