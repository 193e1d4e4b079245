"""The data contract (DESIGN.md): one row = (n, k, m, P, height), plus optional provenance.

Every reader and writer in the pipeline goes through here, so validation and the Arrow schema
live in one place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KEY_COLUMNS = ("n", "k", "m", "P")
CONTRACT_FIELDS = (
    pa.field("n", pa.int32()),
    pa.field("k", pa.int32()),
    pa.field("m", pa.int32()),
    pa.field("P", pa.list_(pa.float64())),
    pa.field("height", pa.float64()),
)


class DataError(ValueError):
    """Input data that breaks the contract; the message is one line that names the problem."""


def parquet_files(paths: list[str | Path]) -> list[Path]:
    """Every Parquet file named by ``paths`` (files, or folders searched recursively), sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.parquet") if not f.name.startswith("."))
            if not found:
                raise DataError(f"{p}: folder holds no .parquet files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    return files


def read_table(paths: list[str | Path], *, require_height: bool = False) -> pa.Table:
    """Read and validate contract rows from files/folders; columns n,k,m cast to int32."""
    tables = []
    for f in parquet_files(paths):
        try:
            tables.append(pq.read_table(f))
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise DataError(f"{f}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    table = pa.concat_tables(tables, promote_options="permissive") if tables else None
    if table is None or table.num_rows == 0:
        raise DataError(f"{', '.join(map(str, paths))}: no rows")
    validate(table, require_height=require_height)
    for name in ("n", "k", "m"):
        table = table.set_column(
            table.schema.get_field_index(name), name, pc.cast(table[name], pa.int32())
        )
    return table


def validate(table: pa.Table, *, require_height: bool = False) -> None:
    """Raise DataError unless every row describes a code and an m the solver can take."""
    needed = KEY_COLUMNS + (("height",) if require_height else ())
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise DataError(f"missing column(s): {', '.join(missing)}")
    n = table["n"].to_numpy(zero_copy_only=False)
    k = table["k"].to_numpy(zero_copy_only=False)
    m = table["m"].to_numpy(zero_copy_only=False)
    bad = np.flatnonzero((k < 1) | (k >= n))
    if bad.size:
        raise DataError(f"row {bad[0]}: need 1 <= k < n, got n={n[bad[0]]}, k={k[bad[0]]}")
    bad = np.flatnonzero((m < 1) | (m > n - 1))
    if bad.size:
        i = bad[0]
        raise DataError(f"row {i}: m={m[i]} out of range, need 1 <= m <= n-1 = {n[i] - 1}")
    lengths = pc.list_value_length(table["P"]).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != k * (n - k))
    if bad.size:
        i = bad[0]
        raise DataError(
            f"row {i}: P has {lengths[i]} entries, need k*(n-k) = {k[i] * (n[i] - k[i])}"
        )
    values = pc.list_flatten(table["P"]).to_numpy(zero_copy_only=False)
    if not np.isfinite(values.astype(np.float64)).all():
        raise DataError("P contains NaN or infinite entries")
    if "height" in table.column_names:
        nan = np.flatnonzero(np.isnan(table["height"].to_numpy(zero_copy_only=False)))
        if nan.size:
            raise DataError(f"row {nan[0]}: height is NaN")


def groups(table: pa.Table) -> Iterator[tuple[tuple[int, int, int], np.ndarray, np.ndarray]]:
    """Yield ((n, k, m), row indices, P as (rows, k, n-k) float64) for each group in the table."""
    n = table["n"].to_numpy(zero_copy_only=False)
    k = table["k"].to_numpy(zero_copy_only=False)
    m = table["m"].to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(table["P"]).to_numpy(zero_copy_only=False).astype(np.float64)
    offsets = table["P"].combine_chunks().offsets.to_numpy()
    offsets = offsets[:-1] - offsets[0]  # a sliced column's offsets do not start at 0
    for key in sorted(set(zip(n.tolist(), k.tolist(), m.tolist(), strict=True))):
        rows = np.flatnonzero((n == key[0]) & (k == key[1]) & (m == key[2]))
        size = key[1] * (key[0] - key[1])
        P = flat[offsets[rows][:, None] + np.arange(size)].reshape(
            len(rows), key[1], key[0] - key[1]
        )
        yield key, rows, P


def p_column(P: np.ndarray) -> pa.Array:
    """P of shape (rows, k, n-k) as the contract's list<double> column, row-major."""
    rows = P.shape[0]
    flat = np.ascontiguousarray(P, dtype=np.float64).reshape(-1)
    size = flat.size // rows if rows else 0
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * size)
    return pa.ListArray.from_arrays(offsets, pa.array(flat, type=pa.float64()))


def write_atomic(table: pa.Table, path: str | Path, **kwargs) -> None:
    """Write Parquet to a temporary name beside ``path`` and rename: the file is whole or absent."""
    with replaced_atomically(Path(path)) as tmp:
        pq.write_table(table, tmp, **kwargs)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which is not thread-safe.
_FILE_MODE = 0o666 & ~_umask()


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``, renamed onto ``path`` once the block succeeds.

    The file gets the mode a plain open() would give it: mkstemp's 0600 would hide a shared
    dataset from the rest of a group.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
