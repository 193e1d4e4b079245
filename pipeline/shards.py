"""One shard of an mh-gen dataset: made and written by a worker, checked by the driver.

The worker writes its Parquet file itself (atomically) and returns only small metadata, so
no row data travels through the driver, and a shard on disk is always whole.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.contract import InputError, p_column, write_atomic
from pipeline.plan import GenConfig, Shard
from pipeline.sampling import Drawn, draw_labelled, shard_rng
from solver.api import m_heights


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_table(shard: Shard, seed: int, drawn: Drawn, node_id: str) -> pa.Table:
    """The data contract columns plus provenance (seed, shard, row within group, node_id)."""
    g, rows = shard.group, shard.rows
    return pa.table(
        {
            "n": pa.array(np.full(rows, g.n, dtype=np.int32)),
            "k": pa.array(np.full(rows, g.k, dtype=np.int32)),
            "m": pa.array(np.full(rows, g.m, dtype=np.int32)),
            "P": p_column(drawn.P),
            "height": pa.array(drawn.height, type=pa.float64()),
            "seed": pa.array(np.full(rows, seed, dtype=np.int64)),
            "shard": pa.array(np.full(rows, shard.index, dtype=np.int32)),
            "row": pa.array(np.arange(shard.start, shard.start + rows, dtype=np.int64)),
            "node_id": pa.repeat(node_id, rows),
        }
    )


def gen_shard(out: str, config: GenConfig, shard: Shard) -> dict:
    """Draw, label and write one shard; return its record (path, rows, checksum, timings...)."""
    import ray

    start = time.perf_counter()
    g = shard.group
    drawn = draw_labelled(
        shard_rng(config.seed, g.n, g.k, g.m, shard.index),
        shard.rows,
        g.k,
        g.n - g.k,
        config.p_dist,
        lambda P: m_heights(P, g.m, method=g.method, convention=config.convention),
        resample=config.infinite == "resample",
    )
    node_id = ray.get_runtime_context().get_node_id()
    t_write = time.perf_counter()
    path = Path(out) / shard.path
    write_atomic(shard_table(shard, config.seed, drawn, node_id), path)
    checksum = sha256_file(path)
    end = time.perf_counter()
    return {
        "path": shard.path,
        "rows": shard.rows,
        "sha256": checksum,
        "bytes": path.stat().st_size,
        "redraws": drawn.redraws,
        "node_id": node_id,
        "sample_s": drawn.sample_s,
        "solve_s": drawn.solve_s,
        "write_s": end - t_write,
        "busy_s": end - start,
    }


# Rows drawn per group to tell a distribution whose heights are always infinite (doubling
# batches, 1 + 2 + ... + 512): with a finite share of 0.5% or more, (1 - 0.005)^1023 < 1%, and
# below that --infinite resample would exhaust its redraw rounds anyway. Probing stops at the
# first finite height, or after PROBE_BUDGET_S, when it refuses nothing (slow LP methods).
PROBE_ROWS = 1023
PROBE_BUDGET_S = 2.0
# The probe's stream: spawn_key (n, k, m, PROBE_STREAM) is no shard's, so shards are unchanged.
PROBE_STREAM = 2**31


def check_finite_possible(config: GenConfig) -> None:
    """Raise InputError for a group whose draws all have infinite height (e.g. P = 0).

    Run by the driver before anything is written, so such a run with --infinite resample is
    refused up front instead of failing in a worker after the manifest exists.
    """
    for g in config.groups:
        rng = shard_rng(config.seed, g.n, g.k, g.m, PROBE_STREAM)
        deadline = time.perf_counter() + PROBE_BUDGET_S
        drawn, batch = 0, 1
        while drawn < PROBE_ROWS and time.perf_counter() < deadline:
            P = config.p_dist.draw(rng, batch, g.k, g.n - g.k)
            if np.isfinite(m_heights(P, g.m, method=g.method, convention=config.convention)).any():
                break
            drawn, batch = drawn + batch, 2 * batch
        else:
            if drawn >= PROBE_ROWS:
                raise InputError(
                    f"n={g.n}, k={g.k}, m={g.m}: all {drawn} probe draws have infinite height, "
                    "so --infinite resample cannot finish; use --infinite keep or another P range"
                )


def shard_intact(out: str | Path, shard: Shard, record: dict | None) -> bool:
    """True when the shard's file exists, has the planned rows and the recorded checksum."""
    path = Path(out) / shard.path
    if record is None or record.get("rows") != shard.rows or not path.is_file():
        return False
    try:
        if pq.ParquetFile(path).metadata.num_rows != shard.rows:
            return False
    except Exception:  # pyarrow raises several types for damaged files
        return False
    return sha256_file(path) == record.get("sha256")
