"""Contract rows (pipeline.contract reads and validates them) -> padded arrays -> tensors,
and the random symmetries that augment a batch.

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
import torch

from pipeline.contract import (
    KEY_COLUMNS,
    InputError,
    check_codes,
    contract_types,
    nkm_array,
    padded_P,
    read_tables,
    validate,
)

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
    hasher = hashlib.sha256()
    tables = read_tables(paths, require_height=need_height, contract_only=True)
    parts = [_arrays(table, str(f), hasher) for f, table in tables]
    return _concat(parts, hasher.hexdigest()[:16], ", ".join(str(p) for p in paths))


def rows_from_table(table: pa.Table, source: str, need_height: bool) -> Rows:
    """Validate an already loaded table (extra columns ignored)."""
    try:
        validate(table, require_height=need_height)
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    columns = list(KEY_COLUMNS) + (["height"] if need_height else [])
    hasher = hashlib.sha256()
    part = _arrays(contract_types(table.select(columns)), source, hasher)
    return _concat([part], hasher.hexdigest()[:16], source)


def rows_from_matrices(n: int, k: int, m: int, matrices: Sequence) -> Rows:
    """Rows for one (n, k, m) from a list of k x (n-k) matrices (nested lists or arrays)."""
    source = f"(n={n}, k={k}, m={m})"
    nkm = np.array([[n, k, m]], dtype=np.int64)
    try:
        check_codes(*nkm.T)
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    _check_size(nkm, source)
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
    return Rows(np.repeat(nkm, len(P), axis=0), P.astype(np.float32), None, "")


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


def augment_batch(P: torch.Tensor, nkm: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute rows and columns and flip row and column signs of each valid block of P.

    P: (B, R, C) zero-padded matrices; nkm: (B, 3) with columns n, k, m. These symmetries leave
    the m-height unchanged (docs/MATH.md, Invariances): P -> D1 Pi1 P Pi2 D2 on each sample's
    valid block, drawn afresh for the whole batch at once on its device. Random keys are
    argsorted into permutations, padded positions given keys that keep them in place.
    """
    B, R, C = P.shape
    k, c = nkm[:, 1:2], nkm[:, 0:1] - nkm[:, 1:2]
    rows = _block_permutation(k, R, generator)
    cols = _block_permutation(c, C, generator)
    P = P.gather(1, rows[:, :, None].expand(B, R, C)).gather(2, cols[:, None, :].expand(B, R, C))
    row_sign = _random_signs((B, R, 1), P, generator)
    col_sign = _random_signs((B, 1, C), P, generator)
    return P * row_sign * col_sign


def _block_permutation(size: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """(B, length) permutations that shuffle positions < size and fix the rest."""
    positions = torch.arange(length, device=size.device)
    keys = torch.rand(len(size), length, generator=generator, device=size.device)
    keys = torch.where(positions < size, keys, 1.0 + positions)  # padding sorts last, in order
    return keys.argsort(dim=1)


def _random_signs(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator):
    bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
    return (2 * bits - 1).to(like.dtype)


def _arrays(table: pa.Table, source: str, hasher) -> dict:
    """One validated, typed table as arrays, with what training needs beyond the contract:
    codes small enough to pad (n <= MAX_N) and positive heights (log2 must exist)."""
    nkm = nkm_array(table)
    _check_size(nkm, source)
    P = padded_P(table).astype(np.float32)
    height = None
    if "height" in table.column_names:
        height = table["height"].to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.flatnonzero(~(height > 0))
        if len(bad):
            raise InputError(f"{source}: row {bad[0]}: height {height[bad[0]]} is not positive")
        hasher.update(height.tobytes())
    hasher.update(nkm.tobytes())
    hasher.update(P.tobytes())
    return {"nkm": nkm, "P": P, "height": height}


def _check_size(nkm: np.ndarray, source: str) -> None:
    bad = np.flatnonzero(nkm[:, 0] > MAX_N)
    if len(bad):
        n, k, m = nkm[bad[0]]
        raise InputError(
            f"{source}: row {bad[0]}: (n={n}, k={k}, m={m}) is out of the supported range "
            f"(n <= {MAX_N})"
        )


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
