"""Parquet -> validated, padded arrays; every bad input is one InputError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from training_runs import GROUPS

from pipeline.contract import InputError, parquet_files
from training.data import (
    check_fits,
    drop_infinite,
    read_rows,
    resolve_split,
    rows_from_matrices,
    to_tensors,
)


def table(n, k, m, P, height=None, **extra) -> pa.Table:
    cols = {
        "n": pa.array(n, pa.int32()),
        "k": pa.array(k, pa.int32()),
        "m": pa.array(m, pa.int32()),
        "P": pa.array(P, pa.list_(pa.float64())),
    }
    if height is not None:
        cols["height"] = pa.array(height, pa.float64())
    cols.update(extra)
    return pa.table(cols)


def write(path: Path, t: pa.Table) -> Path:
    pq.write_table(t, path)
    return path


def test_reads_nested_split_and_ignores_extra_columns(split_dir):
    assert len(parquet_files([split_dir / "train"])) == len(GROUPS)
    rows = read_rows([resolve_split(split_dir, "train")], need_height=True)
    assert len(rows) == 120 * len(GROUPS)
    assert {tuple(g) for g in np.unique(rows.nkm, axis=0).tolist()} == set(GROUPS)
    finite, dropped = drop_infinite(rows)
    assert dropped == 2 and np.isfinite(finite.height).all()
    assert rows.fingerprint == read_rows([split_dir / "train"], True).fingerprint
    assert rows.fingerprint != read_rows([split_dir / "val"], True).fingerprint


def test_padding_keeps_each_block_top_left(tmp_path):
    P1 = np.arange(1, 21, dtype=float)  # n=9, k=4: 4 x 5
    P2 = -np.arange(1, 11, dtype=float)  # n=7, k=5: 5 x 2
    f = write(tmp_path / "a.parquet", table([9, 7], [4, 5], [2, 1], [P1, P2], [2.0, 3.0]))
    rows = read_rows([f], True)
    padded = rows.padded(6)
    assert padded.shape == (2, 6, 6)
    np.testing.assert_array_equal(padded[0, :4, :5], P1.reshape(4, 5))
    np.testing.assert_array_equal(padded[1, :5, :2], P2.reshape(5, 2))
    assert padded[0, 4:].sum() == 0 and padded[0, :, 5:].sum() == 0
    assert padded[1, 5:].sum() == 0 and padded[1, :, 2:].sum() == 0
    data = to_tensors(rows, 6, __import__("torch").device("cpu"))
    np.testing.assert_allclose(data.y.numpy(), np.log2([2.0, 3.0]))


def test_larger_codes_need_a_larger_pad(tmp_path):
    P = np.zeros(8 * 8)
    rows = read_rows([write(tmp_path / "big.parquet", table([16], [8], [3], [P], [5.0]))], True)
    assert rows.max_block == (8, 8)
    check_fits(rows, 8, "x")
    with pytest.raises(InputError, match="out of this model's supported range"):
        check_fits(rows, 6, "x")


def test_int_P_and_int64_columns_are_accepted(tmp_path):
    t = pa.table(
        {
            "n": pa.array([5], pa.int64()),
            "k": pa.array([2], pa.int64()),
            "m": pa.array([2], pa.int64()),
            "P": pa.array([[1, 2, 3, 4, 5, 6]]),
            "height": pa.array([2.5]),
        }
    )
    rows = read_rows([write(tmp_path / "i.parquet", t)], True)
    np.testing.assert_array_equal(rows.P[0], [[1, 2, 3], [4, 5, 6]])


BAD = {
    "missing column": (table([9], [4], [2], [np.zeros(20)]), "missing column"),
    "empty file": (table([], [], [], [], []), "no rows"),
    "wrong P length": (table([9], [4], [2], [np.zeros(19)], [2.0]), "need k\\*\\(n-k\\)"),
    "NaN in P": (table([9], [4], [2], [np.r_[np.nan, np.zeros(19)]], [2.0]), "NaN"),
    "k >= n": (table([4], [4], [2], [np.zeros(0)], [2.0]), "need 1 <= k < n"),
    "m >= n": (table([9], [4], [9], [np.zeros(20)], [2.0]), "m=9 out of range"),
    "n too large": (table([40], [4], [2], [np.zeros(144)], [2.0]), "out of the supported range"),
    "zero height": (table([9], [4], [2], [np.zeros(20)], [0.0]), "not positive"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_tables_are_refused(tmp_path, case):
    t, message = BAD[case]
    with pytest.raises(InputError, match=message):
        read_rows([write(tmp_path / "bad.parquet", t)], need_height=True)


def test_unreadable_and_missing_inputs(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet"):
        read_rows([junk], True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .parquet files"):
        read_rows([tmp_path / "empty"], True)
    with pytest.raises(InputError, match="no such file"):
        read_rows([tmp_path / "absent"], True)


def test_rows_from_matrices_checks_shapes():
    rows = rows_from_matrices(9, 4, 2, [np.ones((4, 5)), [[2] * 5] * 4])
    assert rows.P.shape == (2, 4, 5) and rows.nkm.tolist() == [[9, 4, 2]] * 2
    with pytest.raises(InputError, match="expected 4 x 5"):
        rows_from_matrices(9, 4, 2, [np.ones((5, 4))])
    with pytest.raises(InputError, match="need 1 <= k < n"):
        rows_from_matrices(9, 9, 2, [])
