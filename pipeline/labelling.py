"""Heights for a table of mixed (n, k, m) rows: in-process when small, Ray chunks when large."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from pipeline.contract import groups
from pipeline.ray_runner import cluster_cpus, run_bounded
from solver.api import m_heights, resolve_method

# Rows one core labels in well under a second, per method (vertex: ~50k rows/s measured; the LP
# methods are far slower). Inputs up to this size are labelled in-process, larger ones on Ray
# in chunks of at most this size (one group per chunk), one task each.
CHUNK_ROWS = {
    "pruned": 20_000,
    "vertex": 20_000,
    "vertex-torch": 20_000,
    "highs": 100,
    "pulp": 10,
    "jiang": 1,
}
# Relative tolerance of --check; infinities must match exactly.
CHECK_RTOL = 1e-9


def label_table(table: pa.Table, method: str, convention: str) -> np.ndarray:
    """The m-height of every row of a validated contract table, in row order."""
    out = np.empty(table.num_rows)
    for (_, _, m), rows, P in groups(table):
        out[rows] = m_heights(P, m, method=method, convention=convention)
    return out


def label_chunk(P: np.ndarray, m: int, method: str, convention: str) -> np.ndarray:
    """One Ray task of :func:`label_on_ray`: the heights of one group's chunk of rows."""
    return m_heights(P, m, method=method, convention=convention)


def label_on_ray(
    table: pa.Table, method: str, convention: str, *, chunk_rows: int, progress: bool
) -> np.ndarray:
    """Same as :func:`label_table`, one Ray task per chunk of at most ``chunk_rows`` rows."""
    calls, targets = [], []
    for (_, _, m), rows, P in groups(table):
        for s in range(0, rows.size, chunk_rows):
            calls.append((P[s : s + chunk_rows], m, method, convention))
            targets.append(rows[s : s + chunk_rows])
    out = np.empty(table.num_rows)
    with tqdm(total=table.num_rows, unit="row", unit_scale=True, disable=not progress) as bar:

        def done(i: int, heights: np.ndarray) -> None:
            out[targets[i]] = heights
            bar.update(heights.size)

        run_bounded(label_chunk, calls, done, max_in_flight=2 * cluster_cpus())
    return out


def resolved_methods(table: pa.Table, method: str) -> np.ndarray:
    """The method that actually labels each row (``auto`` resolved per shape)."""
    nkm = np.stack([table[c].to_numpy(zero_copy_only=False) for c in ("n", "k", "m")], axis=1)
    names = np.empty(table.num_rows, dtype=object)
    for n, k, m in np.unique(nkm, axis=0).tolist():
        names[(nkm == (n, k, m)).all(axis=1)] = resolve_method(method, n, k, m)
    return names


def disagreements(label: np.ndarray, recomputed: np.ndarray) -> np.ndarray:
    """Mask of labels off by more than CHECK_RTOL (relative), or not matching an infinity."""
    return ~np.isclose(label, recomputed, rtol=CHECK_RTOL, atol=0.0)


def set_torch_device(_ctx: object, _param: object, value: str | None) -> None:
    """Click callback of --device: the device of ``--method vertex-torch`` for this process and
    the local Ray workers it starts (they inherit the environment); None keeps the default."""
    if value:
        import os

        import click

        from solver.torch_backend import DEVICE_ENV, device

        os.environ[DEVICE_ENV] = value
        try:
            device()  # refused here, before any work, when this machine lacks it
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--device") from None


DEVICE_HELP = "Device of --method vertex-torch: cpu, cuda, cuda:1 [cuda when available]."
