"""Synthetic labelled instances for tests and benchmarks (toy labels, NOT m-heights).

The label is a smooth function of the multiset of |P| entries and m, so it has the same
invariances as the m-height (row/column permutations and sign flips) and models can learn it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def course_grid() -> list[tuple[int, int, int]]:
    """The 21 (n, k, m) groups of the course: n in {9,10}, k in {4,5,6}, 2 <= m <= n-k."""
    return [(n, k, m) for n in (9, 10) for k in (4, 5, 6) for m in range(2, n - k + 1)]


def toy_log2_height(P: np.ndarray, m: int) -> np.ndarray:
    """Toy log2 label of matrices P (rows, k, n-k): invariant like the m-height, >= 0."""
    a = np.abs(P)
    return 0.5 * m + m * a.mean(axis=(1, 2)) / 50.0 + a.max(axis=(1, 2)) / 100.0


def synthetic_table(
    groups: list[tuple[int, int, int]], rows_per_group: int, seed: int = 0
) -> pa.Table:
    """Rows of integer P uniform in [-100, 100] with toy heights, in the data contract."""
    rng = np.random.default_rng(seed)
    ns, ks, ms, Ps, hs = [], [], [], [], []
    for n, k, m in groups:
        P = rng.integers(-100, 101, size=(rows_per_group, k, n - k)).astype(np.float64)
        ns += [n] * rows_per_group
        ks += [k] * rows_per_group
        ms += [m] * rows_per_group
        Ps += list(P.reshape(rows_per_group, -1))
        hs.append(2.0 ** toy_log2_height(P, m))
    return pa.table(
        {
            "n": pa.array(ns, pa.int32()),
            "k": pa.array(ks, pa.int32()),
            "m": pa.array(ms, pa.int32()),
            "P": _list_column(Ps),
            "height": pa.array(np.concatenate(hs) if hs else [], pa.float64()),
        }
    )


def _list_column(rows: list[np.ndarray]) -> pa.ListArray:
    lengths = np.array([len(r) for r in rows], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = np.concatenate(rows) if rows else np.zeros(0)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.float64()))
