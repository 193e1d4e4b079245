"""Parquet rows (docs/DESIGN.md, data contract) -> validated numpy arrays -> padded tensors.

Everything is vectorised with numpy/pyarrow: a million rows load in seconds, and every bad
input is reported as an InputError naming the file and the first offending row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from training.errors import InputError, first_line

REQUIRED_COLUMNS = ("n", "k", "m", "P")
HEIGHT_COLUMN = "height"
MIN_PAD = 6  # the original experiments padded P to 6 x 6; larger codes get a larger pad
MAX_N = 32  # keeps one padded matrix (at most 31 x 31) small; far beyond any exact dataset


@dataclass
class Rows:
    """Labelled (or unlabelled) instances, P zero-padded to the largest k x (n-k) present."""

    nkm: np.ndarray  # (N, 3) int64
    P: np.ndarray  # (N, R, C) float32, valid block [:k, :n-k]
    height: np.ndarray | None  # (N,) float64, may hold +inf
    fingerprint: str  # sha256 prefix of the source values, for config.json

    def __len__(self) -> int:
        return len(self.nkm)

    def select(self, keep: np.ndarray) -> Rows:
        height = None if self.height is None else self.height[keep]
        return Rows(self.nkm[keep], self.P[keep], height, self.fingerprint)

    @property
    def max_block(self) -> tuple[int, int]:
        """Largest k and largest n-k present."""
        k, c = self.nkm[:, 1], self.nkm[:, 0] - self.nkm[:, 1]
        return int(k.max()), int(c.max())

    def padded(self, pad: int) -> np.ndarray:
        """P as (N, pad, pad); pad must cover every block (check_fits)."""
        out = np.zeros((len(self), pad, pad), dtype=np.float32)
        r, c = self.P.shape[1:]
        out[:, :r, :c] = self.P
        return out


def find_parquet_files(path: str | Path) -> list[Path]:
    """One file, or every *.parquet below a folder (recursively, hidden and _temp names skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    files = sorted(
        p
        for p in path.rglob("*.parquet")
        if p.is_file() and not any(s.startswith((".", "_")) for s in p.relative_to(path).parts)
    )
    if not files:
        raise InputError(f"{path}: no .parquet files found")
    return files


SPLITS = ("train", "val", "test")


def resolve_split(path: str | Path, split: str) -> Path:
    """PATH/split when PATH is a split folder (from mh-split), else PATH itself (a folder of
    Parquet files or one file). A split folder without that split is refused, not read whole."""
    path = Path(path)
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    if (path / split).is_dir():
        return path / split
    if (path / "split.json").is_file() or any((path / name).is_dir() for name in SPLITS):
        raise InputError(f"{path}: this split folder has no {split}/")
    return path


def read_rows(paths: Sequence[str | Path], need_height: bool) -> Rows:
    """Read and validate every Parquet file under the given paths into one Rows."""
    files = [f for p in paths for f in find_parquet_files(p)]
    hasher = hashlib.sha256()
    parts = []
    for f in files:
        try:
            names = pq.read_schema(f).names
            table = pq.read_table(f, columns=_required_columns(names, need_height, str(f)))
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{f}: unreadable Parquet file ({first_line(e)})") from None
        parts.append(_arrays_from_table(table, str(f), need_height, hasher))
    return _concat(parts, hasher.hexdigest()[:16], ", ".join(str(p) for p in paths))


def rows_from_table(table: pa.Table, source: str, need_height: bool) -> Rows:
    """Validate an already loaded table (extra columns ignored)."""
    _required_columns(table.column_names, need_height, source)
    hasher = hashlib.sha256()
    return _concat(
        [_arrays_from_table(table, source, need_height, hasher)], hasher.hexdigest()[:16], source
    )


def rows_from_matrices(n: int, k: int, m: int, matrices: Sequence) -> Rows:
    """Rows for one (n, k, m) from a list of k x (n-k) matrices (nested lists or arrays)."""
    source = f"(n={n}, k={k}, m={m})"
    _check_range(np.array([[n, k, m]], dtype=np.int64), source)
    c = n - k
    try:
        P = np.asarray(matrices, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{source}: P_list is not a list of {k} x {c} matrices ({e})") from None
    if len(matrices) == 0:
        P = P.reshape(0, k, c)
    if P.ndim != 3 or P.shape[1:] != (k, c):
        raise InputError(f"{source}: expected {k} x {c} matrices, got shape {P.shape}")
    if not np.isfinite(P).all():
        raise InputError(f"{source}: P contains NaN or infinite entries")
    nkm = np.tile(np.array([n, k, m], dtype=np.int64), (len(P), 1))
    return Rows(nkm, P.astype(np.float32), None, "")


def check_fits(rows: Rows, pad: int, source: str) -> None:
    """Refuse rows whose k or n-k exceed the model's padded size."""
    k, c = rows.nkm[:, 1], rows.nkm[:, 0] - rows.nkm[:, 1]
    bad = np.flatnonzero((k > pad) | (c > pad))
    if len(bad):
        n_, k_, m_ = rows.nkm[bad[0]]
        raise InputError(
            f"{source}: (n={n_}, k={k_}, m={m_}) is out of this model's supported range "
            f"(k <= {pad} and n-k <= {pad})"
        )


def drop_infinite(rows: Rows) -> tuple[Rows, int]:
    """Finite labels only (training and scoring need log2 h); returns the number dropped."""
    assert rows.height is not None
    keep = np.isfinite(rows.height)
    return rows.select(keep), int((~keep).sum())


@dataclass
class TensorData:
    """Rows as device tensors: the whole dataset lives in memory and is batched by indexing."""

    P: torch.Tensor  # (N, pad, pad) float32
    nkm: torch.Tensor  # (N, 3) int64
    y: torch.Tensor | None  # (N,) float32 log2 height

    def __len__(self) -> int:
        return len(self.nkm)


def to_tensors(rows: Rows, pad: int, device: torch.device) -> TensorData:
    y = None
    if rows.height is not None:
        y = torch.from_numpy(np.log2(rows.height).astype(np.float32)).to(device)
    return TensorData(
        torch.from_numpy(rows.padded(pad)).to(device),
        torch.from_numpy(rows.nkm).to(device),
        y,
    )


def _required_columns(names: list[str], need_height: bool, source: str) -> list[str]:
    """The columns to read; refuses a table that lacks any of them."""
    columns = list(REQUIRED_COLUMNS) + ([HEIGHT_COLUMN] if need_height else [])
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}")
    return columns


def _arrays_from_table(table: pa.Table, source: str, need_height: bool, hasher) -> dict:
    nkm = np.stack([_int_column(table, c, source) for c in ("n", "k", "m")], axis=1)
    _check_range(nkm, source)
    P = _padded_matrices(table.column("P"), nkm, source)
    height = None
    if need_height:
        col = table.column(HEIGHT_COLUMN)
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            raise InputError(f"{source}: column height must be numeric, not {col.type}")
        if col.null_count:
            raise InputError(f"{source}: column height has missing values")
        height = col.to_numpy().astype(np.float64)
        bad = np.flatnonzero(~(height > 0))  # NaN, zero or negative: log2 undefined
        if len(bad):
            raise InputError(f"{source}: row {bad[0]}: height {height[bad[0]]} is not positive")
        hasher.update(height.tobytes())
    hasher.update(nkm.tobytes())
    hasher.update(P.tobytes())
    return {"nkm": nkm, "P": P, "height": height}


def _int_column(table: pa.Table, name: str, source: str) -> np.ndarray:
    col = table.column(name)
    if not pa.types.is_integer(col.type):
        raise InputError(f"{source}: column {name} must be integer, not {col.type}")
    if col.null_count:
        raise InputError(f"{source}: column {name} has missing values")
    return col.to_numpy().astype(np.int64)


def _check_range(nkm: np.ndarray, source: str) -> None:
    n, k, m = nkm.T
    bad = np.flatnonzero((k < 1) | (k >= n) | (m < 1) | (m >= n) | (n > MAX_N))
    if len(bad):
        i = bad[0]
        raise InputError(
            f"{source}: row {i}: (n={n[i]}, k={k[i]}, m={m[i]}) is out of the supported range "
            f"(1 <= k < n <= {MAX_N}, 1 <= m < n)"
        )


def _padded_matrices(column: pa.ChunkedArray, nkm: np.ndarray, source: str) -> np.ndarray:
    """The ragged list column P -> (N, max k, max n-k) float32, one numpy gather per shape."""
    if not (
        pa.types.is_list(column.type)
        or pa.types.is_large_list(column.type)
        or pa.types.is_fixed_size_list(column.type)
    ):
        raise InputError(f"{source}: column P must be a list of numbers, not {column.type}")
    arr = column.combine_chunks()
    if arr.null_count:
        raise InputError(f"{source}: column P has missing values")
    values = arr.flatten()
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise InputError(f"{source}: column P must hold numbers, not {values.type}")
    if values.null_count:
        raise InputError(f"{source}: column P has missing entries")
    values = values.to_numpy(zero_copy_only=False).astype(np.float64)
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    n, k = nkm[:, 0], nkm[:, 1]
    c = n - k
    bad = np.flatnonzero(lengths != k * c)
    if len(bad):
        i = bad[0]
        raise InputError(
            f"{source}: row {i}: P has {lengths[i]} entries, expected k*(n-k) = {k[i] * c[i]}"
        )
    if not np.isfinite(values).all():
        i = int(
            np.searchsorted(
                np.cumsum(lengths), np.flatnonzero(~np.isfinite(values))[0], side="right"
            )
        )
        raise InputError(f"{source}: row {i}: P contains NaN or infinite entries")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out = np.zeros((len(nkm), int(k.max(initial=0)), int(c.max(initial=0))), dtype=np.float32)
    for kk, cc in np.unique(np.stack([k, c], axis=1), axis=0):
        idx = np.flatnonzero((k == kk) & (c == cc))
        gather = starts[idx, None] + np.arange(kk * cc)
        out[idx, :kk, :cc] = values[gather].reshape(-1, kk, cc)
    return out


def _concat(parts: list[dict], fingerprint: str, source: str) -> Rows:
    total = sum(len(p["nkm"]) for p in parts)
    if total == 0:
        raise InputError(f"{source}: no rows")
    R = max(p["P"].shape[1] for p in parts)
    C = max(p["P"].shape[2] for p in parts)
    P = np.zeros((total, R, C), dtype=np.float32)
    at = 0
    for p in parts:
        r, c = p["P"].shape[1:]
        P[at : at + len(p["P"]), :r, :c] = p["P"]
        at += len(p["P"])
    nkm = np.concatenate([p["nkm"] for p in parts])
    height = None if parts[0]["height"] is None else np.concatenate([p["height"] for p in parts])
    return Rows(nkm, P, height, fingerprint)
