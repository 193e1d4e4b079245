"""The data contract (docs/DESIGN.md): one row = (n, k, m, P, height), plus optional provenance.

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
    """Read and validate contract rows from files/folders, cast to the contract's Arrow types.

    n, k, m become int32, P list<double> and height double, so every command sees the same
    types whatever wrote the file (extra columns are kept as they are).
    """
    tables = []
    for f in parquet_files(paths):
        try:
            tables.append(pq.read_table(f))
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise DataError(f"{f}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    try:
        table = pa.concat_tables(tables, promote_options="permissive") if tables else None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"inputs do not share column types: {' '.join(str(exc).split())}") from exc
    if table is None or table.num_rows == 0:
        raise DataError(f"{', '.join(map(str, paths))}: no rows")
    validate(table, require_height=require_height)
    return contract_types(table)


def contract_types(table: pa.Table) -> pa.Table:
    """``table`` (already validated) with its contract columns cast to the contract's types."""
    for field in CONTRACT_FIELDS:
        i = table.schema.get_field_index(field.name)
        if i >= 0 and table.schema.field(i).type != field.type:
            try:
                column = pc.cast(table[field.name], field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                why = " ".join(str(exc).split())
                raise DataError(f"column {field.name} does not fit {field.type}: {why}") from exc
            table = table.set_column(i, field.name, column)
    return table


def validate(table: pa.Table, *, require_height: bool = False) -> None:
    """Raise DataError unless every row describes a code and an m the solver can take."""
    needed = KEY_COLUMNS + (("height",) if require_height else ())
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise DataError(f"missing column(s): {', '.join(missing)}")
    check_types(table)
    n, k, m = (table[c].to_numpy(zero_copy_only=False).astype(np.int64) for c in ("n", "k", "m"))
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


_INT32_MAX = 2**31 - 1


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _first_null(column: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])


def check_types(table: pa.Table) -> None:
    """Raise DataError unless the contract columns present have types and values it allows.

    n, k, m: integers (or floats holding whole numbers); P: a list of numbers per row; height:
    a number; no missing (null) values. Runs before any arithmetic on the columns, so a string
    column is named as such instead of failing deep inside numpy or Arrow.
    """
    for name in ("n", "k", "m", "P", "height"):
        if name not in table.column_names:
            continue
        column = table[name]
        t = column.type
        if name == "P":
            if not (pa.types.is_list(t) or pa.types.is_large_list(t)
                    or pa.types.is_fixed_size_list(t)) or not _is_number(t.value_type):  # fmt: skip
                raise DataError(f"column P has type {t}, need a list of numbers (list<double>)")
        elif not _is_number(t):
            kind = "integers" if name != "height" else "numbers"
            raise DataError(f"column {name} has type {t}, need {kind}")
        if column.null_count:
            raise DataError(f"row {_first_null(column)}: {name} is missing (null)")
        if name == "P":
            flat = pc.list_flatten(column)
            if flat.null_count:
                row = pc.list_parent_indices(column).filter(flat.is_null()).to_pylist()
                raise DataError(f"row {row[0] if row else '?'}: P has a missing (null) entry")
        elif name != "height":
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
            bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
            if bad.size:
                raise DataError(f"row {bad[0]}: {name}={values[bad[0]]:g} is not a whole number")
            bad = np.flatnonzero(np.abs(values) > _INT32_MAX)
            if bad.size:
                raise DataError(f"row {bad[0]}: {name}={values[bad[0]]:g} is out of range")


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
