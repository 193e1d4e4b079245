"""mh-solve: labels, --check against the course sample, Ray chunks, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_checks import one_line_error
from click.testing import CliRunner

from pipeline.cli_solve import main
from pipeline.contract import p_column
from solver import m_heights
from solver.api import resolve_method


def solve(*args: str | Path):
    return CliRunner().invoke(main, [str(a) for a in args])


def mixed_table(rows: int = 60, seed: int = 0) -> pa.Table:
    """Rows of three groups, interleaved, with an extra column and a stale height."""
    rng = np.random.default_rng(seed)
    keys = [(5, 2, 1), (6, 3, 2), (6, 2, 3)]
    pick = rng.integers(0, len(keys), rows)
    P = [rng.integers(-9, 10, size=(keys[i][1], keys[i][0] - keys[i][1])).ravel() for i in pick]
    return pa.table(
        {
            "id": pa.array(np.arange(rows) * 7),
            "n": pa.array([keys[i][0] for i in pick], pa.int32()),
            "k": pa.array([keys[i][1] for i in pick], pa.int32()),
            "m": pa.array([keys[i][2] for i in pick], pa.int32()),
            "P": pa.array([p.astype(float).tolist() for p in P], pa.list_(pa.float64())),
            "height": pa.array(np.full(rows, -1.0)),
        }
    )


def expected_heights(table: pa.Table) -> np.ndarray:
    """Row by row, straight from the solver."""
    return np.array(
        [
            m_heights(np.reshape(r["P"], (r["k"], r["n"] - r["k"])), r["m"])[0]
            for r in table.select(["n", "k", "m", "P"]).to_pylist()
        ]
    )


def test_check_course_sample_skip_unbounded_finds_the_one_known_disagreement(course_sample_path):
    result = solve(course_sample_path, "--check", "--convention", "skip-unbounded")
    assert result.exit_code == 1, result.output
    assert "1 of 4,500 labels disagree" in result.output
    assert "    1689   9   4   5" in result.output


def test_check_course_sample_exact_reports_the_153_infinite_rows(tmp_path, course_sample_path):
    out = tmp_path / "checked.parquet"
    result = solve(course_sample_path, "--check", "--convention", "exact", "-o", out)
    assert result.exit_code == 1, result.output
    assert "153 of 4,500 labels disagree" in result.output
    table = pq.read_table(out)
    original = pq.read_table(course_sample_path)
    assert table["height"].equals(original["height"])  # --check keeps the labels
    label, recomputed = table["height"].to_numpy(), table["height_recomputed"].to_numpy()
    bad = ~np.isclose(label, recomputed, rtol=1e-9, atol=0)
    assert bad.sum() == 153 and np.isinf(recomputed[bad]).all()


def test_labels_keep_row_order_and_extra_columns(tmp_path):
    table = mixed_table()
    pq.write_table(table, tmp_path / "in.parquet")
    result = solve(tmp_path / "in.parquet", "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == [*table.column_names, "method", "convention"]
    assert out["id"].equals(table["id"]) and out["P"].equals(table["P"])
    np.testing.assert_allclose(out["height"].to_numpy(), expected_heights(table), rtol=1e-12)
    shapes = zip(*(out[c].to_pylist() for c in ("n", "k", "m")), strict=True)
    assert out["method"].to_pylist() == [resolve_method("auto", *shape) for shape in shapes]
    assert set(out["convention"].to_pylist()) == {"exact"}
    # Labels it wrote itself pass --check.
    assert solve(tmp_path / "out.parquet", "--check").exit_code == 0


def test_ray_chunks_give_the_same_labels_as_in_process(tmp_path, ray_session):
    table = mixed_table(rows=400, seed=1)
    pq.write_table(table, tmp_path / "in.parquet")
    args = [tmp_path / "in.parquet", "--convention", "skip-unbounded", "--no-progress"]
    assert solve(*args, "-o", tmp_path / "local.parquet").exit_code == 0
    result = solve(*args, "-o", tmp_path / "ray.parquet", "--chunk-size", "25")
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "ray.parquet").equals(pq.read_table(tmp_path / "local.parquet"))


def _bad_tables() -> dict[str, tuple[pa.Table, str]]:
    good = mixed_table(rows=10).drop_columns(["height"])
    n, k = good["n"].to_numpy(), good["k"].to_numpy()
    P = good["P"].to_pylist()
    short = [p[:-1] if i == 3 else p for i, p in enumerate(P)]
    nan = [[np.nan, *p[1:]] if i == 4 else p for i, p in enumerate(P)]
    inf = [[np.inf, *p[1:]] if i == 5 else p for i, p in enumerate(P)]
    return {
        "m out of range": (good.set_column(3, "m", pa.array(n, pa.int32())), "m="),
        "k >= n": (good.set_column(2, "k", pa.array(n, pa.int32())), "k < n"),
        "wrong P length": (good.set_column(4, "P", pa.array(short)), "P has"),
        "NaN in P": (good.set_column(4, "P", pa.array(nan)), "NaN"),
        "inf in P": (good.set_column(4, "P", pa.array(inf)), "infinite"),
        "missing column": (good.drop_columns(["m"]), "missing column"),
        "no rows": (good.slice(0, 0), "no rows"),
        "k zero": (good.set_column(2, "k", pa.array(np.zeros_like(k), pa.int32())), "k < n"),
    }


@pytest.mark.parametrize("case", sorted(_bad_tables()))
def test_bad_tables_get_one_line_error_and_no_output(tmp_path, case):
    table, words = _bad_tables()[case]
    pq.write_table(table, tmp_path / "in.parquet")
    result = solve(tmp_path / "in.parquet", "-o", tmp_path / "out.parquet")
    one_line_error(result, words)
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(
    "content, words",
    [(b"", "not a readable Parquet file"), (b"not parquet at all", "not a readable Parquet file")],
)
def test_unreadable_files_are_refused(tmp_path, content, words):
    (tmp_path / "in.parquet").write_bytes(content)
    one_line_error(solve(tmp_path / "in.parquet", "-o", tmp_path / "out.parquet"), words)
    assert not (tmp_path / "out.parquet").exists()


def test_missing_file_unknown_method_and_missing_output_are_refused(tmp_path):
    one_line_error(solve(tmp_path / "nope.parquet", "-o", tmp_path / "o.parquet"), "no such file")
    pq.write_table(mixed_table(rows=5), tmp_path / "in.parquet")
    args = [tmp_path / "in.parquet", "-o", tmp_path / "out.parquet"]
    one_line_error(solve(*args, "--method", "simplex"), "unknown method 'simplex'")
    one_line_error(solve(*args, "--convention", "course"), "unknown convention 'course'")
    one_line_error(solve(tmp_path / "in.parquet"), "need -o")
    assert not (tmp_path / "out.parquet").exists()


def test_check_needs_a_height_column(tmp_path):
    pq.write_table(mixed_table(rows=5).drop_columns(["height"]), tmp_path / "in.parquet")
    one_line_error(solve(tmp_path / "in.parquet", "--check"), "missing column(s): height")


def test_infinite_heights_are_written_as_inf(tmp_path):
    P = np.zeros((3, 2, 3))
    P[:, 0, 0] = [1, 2, 3]
    table = pa.table(
        {"n": pa.array([5] * 3, pa.int32()), "k": pa.array([2] * 3, pa.int32()),
         "m": pa.array([3] * 3, pa.int32()), "P": p_column(P)}
    )  # fmt: skip
    pq.write_table(table, tmp_path / "in.parquet")
    assert solve(tmp_path / "in.parquet", "-o", tmp_path / "out.parquet").exit_code == 0
    assert np.isinf(pq.read_table(tmp_path / "out.parquet")["height"].to_numpy()).all()
