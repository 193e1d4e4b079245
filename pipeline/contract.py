"""The data contract (docs/DESIGN.md) and the project's one bad-input error, in one module.

Every command reads, validates, pads and writes rows through here: the data CLIs, the solver's
mh-solve and the trainer. It imports numpy and pyarrow only, so training (and a GPU node that
installs only what training needs) uses it without Ray, the solver or the rest of pipeline/.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
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
_INT32_MAX = 2**31 - 1


class InputError(ValueError):
    """Bad input of any kind (data, arguments, output folder, checkpoint): not a bug here.

    The message is one line naming the problem; every CLI prints it and exits with status 2.
    """


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type when empty), for one-line errors."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def parquet_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every Parquet file named by ``paths``: files as given, folders searched recursively.

    Below a folder, paths with a part starting with "." or "_" are skipped: temporary files
    of atomic writes, staging folders, and Spark/Hive markers such as _SUCCESS or _temporary.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*.parquet")
                if f.is_file() and not any(s.startswith((".", "_")) for s in f.relative_to(p).parts)
            )
            if not found:
                raise InputError(f"{p}: folder holds no .parquet files")
            files.extend(found)
        else:
            raise InputError(f"{p}: no such file or folder")
    return files


def read_file(path: Path, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file as it is (``columns`` only, when given); unreadable is an InputError."""
    try:
        if columns is not None:
            missing = [c for c in columns if c not in pq.read_schema(path).names]
            if missing:
                raise InputError(f"{path}: missing column(s): {', '.join(missing)}")
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None


def read_tables(
    paths: Iterable[str | Path], *, require_height: bool = False, contract_only: bool = False
) -> list[tuple[Path, pa.Table]]:
    """(file, its rows) for each file under ``paths``, validated and cast to the contract's
    types; errors name the file.

    n, k, m become int32, P list<double> and height double, so every command sees the same
    types whatever wrote the file. Extra columns are kept, or dropped with ``contract_only``.
    """
    columns = list(KEY_COLUMNS) + (["height"] if require_height else [])
    tables = []
    for f in parquet_files(paths):
        table = read_file(f, columns if contract_only else None)
        try:
            validate(table, require_height=require_height)
            tables.append((f, contract_types(table)))
        except InputError as exc:
            raise InputError(f"{f}: {exc}") from None
    return tables


def read_table(paths: Iterable[str | Path], *, require_height: bool = False) -> pa.Table:
    """Every file under ``paths`` (see :func:`read_tables`) in one table; refuses no rows."""
    paths = list(paths)
    try:
        tables = [t for _, t in read_tables(paths, require_height=require_height)]
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"inputs do not share column types: {' '.join(str(exc).split())}") from exc
    if table.num_rows == 0:
        raise InputError(f"{', '.join(map(str, paths))}: no rows")
    return table


def contract_types(table: pa.Table) -> pa.Table:
    """``table`` (already validated) with its contract columns cast to the contract's types."""
    for field in CONTRACT_FIELDS:
        i = table.schema.get_field_index(field.name)
        if i >= 0 and table.schema.field(i).type != field.type:
            try:
                column = pc.cast(table[field.name], field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                why = " ".join(str(exc).split())
                raise InputError(f"column {field.name} does not fit {field.type}: {why}") from exc
            table = table.set_column(i, field.name, column)
    return table


def check_codes(n: np.ndarray, k: np.ndarray, m: np.ndarray) -> None:
    """Raise InputError unless every (n, k, m) describes a code and an m: 1 <= k < n, m < n."""
    bad = np.flatnonzero((k < 1) | (k >= n))
    if bad.size:
        raise InputError(f"row {bad[0]}: need 1 <= k < n, got n={n[bad[0]]}, k={k[bad[0]]}")
    bad = np.flatnonzero((m < 1) | (m > n - 1))
    if bad.size:
        i = bad[0]
        raise InputError(f"row {i}: m={m[i]} out of range, need 1 <= m <= n-1 = {n[i] - 1}")


def validate(table: pa.Table, *, require_height: bool = False) -> None:
    """Raise InputError unless every row describes a code and an m the solver can take."""
    needed = KEY_COLUMNS + (("height",) if require_height else ())
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise InputError(f"missing column(s): {', '.join(missing)}")
    check_types(table)
    n, k, m = (table[c].to_numpy(zero_copy_only=False).astype(np.int64) for c in ("n", "k", "m"))
    check_codes(n, k, m)
    lengths = pc.list_value_length(table["P"]).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != k * (n - k))
    if bad.size:
        i = bad[0]
        raise InputError(
            f"row {i}: P has {lengths[i]} entries, need k*(n-k) = {k[i] * (n[i] - k[i])}"
        )
    values = pc.list_flatten(table["P"]).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
        raise InputError(f"row {row}: P contains NaN or infinite entries")
    if "height" in table.column_names:
        nan = np.flatnonzero(np.isnan(table["height"].to_numpy(zero_copy_only=False)))
        if nan.size:
            raise InputError(f"row {nan[0]}: height is NaN")


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _first_null(column: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])


def check_types(table: pa.Table) -> None:
    """Raise InputError unless the contract columns present have types and values it allows.

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
                raise InputError(f"column P has type {t}, need a list of numbers (list<double>)")
        elif not _is_number(t):
            kind = "integers" if name != "height" else "numbers"
            raise InputError(f"column {name} has type {t}, need {kind}")
        if column.null_count:
            raise InputError(f"row {_first_null(column)}: {name} is missing (null)")
        if name == "P":
            flat = pc.list_flatten(column)
            if flat.null_count:
                row = pc.list_parent_indices(column).filter(flat.is_null()).to_pylist()
                raise InputError(f"row {row[0] if row else '?'}: P has a missing (null) entry")
        elif name != "height":
            values = column.to_numpy(zero_copy_only=False).astype(np.float64)
            bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
            if bad.size:
                raise InputError(f"row {bad[0]}: {name}={values[bad[0]]:g} is not a whole number")
            bad = np.flatnonzero(np.abs(values) > _INT32_MAX)
            if bad.size:
                raise InputError(f"row {bad[0]}: {name}={values[bad[0]]:g} is out of range")


def nkm_array(table: pa.Table) -> np.ndarray:
    """(rows, 3) int64 n, k, m of a validated table."""
    return np.stack(
        [table[c].to_numpy(zero_copy_only=False).astype(np.int64) for c in ("n", "k", "m")], 1
    )


def _flat_P(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """P's values as one float64 array, and where each row's values start in it."""
    column = table["P"].combine_chunks()
    values = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float64)
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
    return values, np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _gather(values: np.ndarray, starts: np.ndarray, k: int, c: int) -> np.ndarray:
    """Rows of k x c matrices stored row-major at ``starts`` of ``values``."""
    return values[starts[:, None] + np.arange(k * c)].reshape(len(starts), k, c)


def groups(table: pa.Table) -> Iterator[tuple[tuple[int, int, int], np.ndarray, np.ndarray]]:
    """Yield ((n, k, m), row indices, P as (rows, k, n-k) float64) for each group in the table."""
    nkm = nkm_array(table)
    values, starts = _flat_P(table)
    for key in sorted(set(map(tuple, nkm.tolist()))):
        rows = np.flatnonzero((nkm == key).all(axis=1))
        yield key, rows, _gather(values, starts[rows], key[1], key[0] - key[1])


def padded_P(table: pa.Table) -> np.ndarray:
    """P of a validated table as (rows, max k, max n-k) float64, each block top-left, zeros
    around it: one array for rows of mixed shapes (the model input's layout)."""
    nkm = nkm_array(table)
    values, starts = _flat_P(table)
    k, c = nkm[:, 1], nkm[:, 0] - nkm[:, 1]
    out = np.zeros((len(nkm), int(k.max(initial=0)), int(c.max(initial=0))))
    for kk, cc in np.unique(np.stack([k, c], axis=1), axis=0).tolist():
        rows = np.flatnonzero((k == kk) & (c == cc))
        out[rows, :kk, :cc] = _gather(values, starts[rows], kk, cc)
    return out


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

    Every file the project writes whole (shards, manifests, predictions, checkpoints) goes
    through here. The temporary name is unique (two writers never share it) and hidden (folder
    readers skip it); the file gets the mode a plain open() would give it: mkstemp's 0600
    would hide a shared dataset from the rest of a group.
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


def versions(*packages: str) -> dict[str, str | None]:
    """Python's version and each package's (None when absent), recorded with every run."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("mheight", *packages):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found
