"""The course's original format: one pickled pandas DataFrame per file, columns n, k, m, result, P.

Both directions live here so the round trip (contract -> pickle -> contract) is defined in one
place. Unpickling runs code from the file; callers must have the user's explicit consent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.contract import InputError, validate

LEGACY_COLUMNS = ("n", "k", "m", "result", "P")
SUFFIXES = (".pkl", ".pickle")
PROTOCOL = 4  # readable by every Python the course notebooks ran on (3.4+)


def legacy_files(src: str | Path) -> list[Path]:
    """``src`` itself, or every .pkl/.pickle file under the folder ``src``, sorted."""
    src = Path(src)
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise InputError(f"{src}: no such file or folder")
    found = sorted(
        f
        for f in src.rglob("*")
        if f.suffix.lower() in SUFFIXES and f.is_file() and f.name[0] != "."
    )
    if not found:
        raise InputError(f"{src}: folder holds no .pkl or .pickle files")
    return found


def read_legacy(path: Path) -> pa.Table:
    """One pickled DataFrame as contract rows (n, k, m, P, height=result), validated."""
    try:
        frame = pd.read_pickle(path)
    except Exception as exc:  # unpickling can fail in any way the file's code chooses
        raise InputError(f"{path}: not a readable pickle ({exc.__class__.__name__})") from exc
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{path}: holds a {type(frame).__name__}, not a pandas DataFrame")
    missing = [c for c in LEGACY_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s): {', '.join(missing)}")
    if frame.empty:
        raise InputError(f"{path}: no rows")
    try:
        table, shapes = _contract_rows(frame)
        validate(table, require_height=True)
        _check_shapes(table, shapes)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    return table


def _contract_rows(frame: pd.DataFrame) -> tuple[pa.Table, list[tuple[int, ...]]]:
    """Contract columns from the legacy ones, and each row's P shape (2-D or flat)."""
    try:
        nkm = {c: pa.array(frame[c].to_numpy()).cast(pa.int32()) for c in ("n", "k", "m")}
        height = pa.array(frame["result"].to_numpy(dtype=np.float64))
    except (ValueError, TypeError, pa.ArrowInvalid) as exc:
        raise InputError(f"n, k, m must be integers and result a number ({exc})") from exc
    nan = np.flatnonzero(np.isnan(height.to_numpy()))
    if nan.size:
        raise InputError(f"row {nan[0]}: result is NaN")
    flat = []
    for i, p in enumerate(frame["P"]):
        try:
            arr = np.asarray(p, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise InputError(f"row {i}: P is not a numeric array ({exc})") from exc
        if arr.ndim not in (1, 2):
            raise InputError(f"row {i}: P has {arr.ndim} dimensions, need 1 (flat) or 2")
        flat.append(arr)
    offsets = np.concatenate([[0], np.cumsum([a.size for a in flat])]).astype(np.int32)
    values = np.concatenate([a.reshape(-1) for a in flat])
    P = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
    return pa.table({**nkm, "P": P, "height": height}), [a.shape for a in flat]


def _check_shapes(table: pa.Table, shapes: list[tuple[int, ...]]) -> None:
    """A transposed P has the right length, so the contract cannot catch it; its shape can."""
    for i, (n, k, shape) in enumerate(
        zip(table["n"].to_pylist(), table["k"].to_pylist(), shapes, strict=True)
    ):
        if len(shape) == 2 and shape != (k, n - k):
            raise InputError(f"row {i}: P has shape {shape}, need (k, n-k) = ({k}, {n - k})")


def legacy_frame(table: pa.Table) -> pd.DataFrame:
    """Contract rows of one (n, k, m) group as the course's DataFrame (P as 2-D arrays)."""
    n, k = table["n"][0].as_py(), table["k"][0].as_py()
    P = np.asarray(table["P"].combine_chunks().flatten(), dtype=np.float64)
    P = P.reshape(table.num_rows, k, n - k)
    return pd.DataFrame(
        {
            "n": table["n"].to_numpy().astype(np.int64),  # what pandas makes of Python ints
            "k": table["k"].to_numpy().astype(np.int64),
            "m": table["m"].to_numpy().astype(np.int64),
            "result": table["height"].to_numpy(),
            "P": list(P),
        }
    )


def write_legacy(table: pa.Table, path: Path) -> None:
    """Pickle one group's rows in the course format (caller makes the write atomic)."""
    legacy_frame(table).to_pickle(path, protocol=PROTOCOL)
