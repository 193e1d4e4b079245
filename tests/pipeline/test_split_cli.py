"""mh-split end to end: files written, split.json, report, reproducibility, atomicity, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli_split import main
from pipeline.contract import p_column, read_table, write_atomic
from solver import m_heights

GROUPS = ((5, 2, 1), (5, 2, 2), (5, 2, 3))


def generated(folder: Path, seed: int, rows: int) -> None:
    """An mh-gen-like folder: exact heights (m=3=n-k gives some +inf), two shards per group."""
    rng = np.random.default_rng(seed)
    for n, k, m in GROUPS:
        P = rng.integers(-5, 6, size=(rows, k, n - k)).astype(float)  # small range: some +inf
        part = pa.table(
            {
                "n": pa.array([n] * rows, pa.int32()),
                "k": pa.array([k] * rows, pa.int32()),
                "m": pa.array([m] * rows, pa.int32()),
                "P": p_column(P),
                "height": m_heights(P, m),
                "seed": [seed] * rows,
                "row": np.arange(rows),
                "node_id": ["node-a"] * rows,
            }
        )
        for shard, piece in enumerate((part.slice(0, rows // 2), part.slice(rows // 2))):
            write_atomic(piece, folder / f"n{n}_k{k}_m{m}" / f"part-{shard:05d}.parquet")
    (folder / "manifest.json").write_text("{}")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    generated(root / "run1", seed=1, rows=60)
    generated(root / "run2", seed=2, rows=40)
    return root


def run(*args: str) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_writes_contract_splits_json_and_report(data, tmp_path):
    out = tmp_path / "splits"
    result = run(data / "run1", data / "run2", "--out", out, "--test-frac", "0.1", "--seed", "4")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "split.json").read_text())
    per_group = summary["parameters"]["per_group"]
    sizes = {"val": math.floor(per_group * 0.2 + 0.5), "test": math.floor(per_group * 0.1 + 0.5)}
    sizes["train"] = per_group - sizes["val"] - sizes["test"]
    for group in summary["groups"]:
        assert {s: group[s] for s in sizes} == sizes
    for split, size in sizes.items():
        table = read_table([out / split], require_height=True)
        assert table.num_rows == 3 * size
        assert {"seed", "row", "node_id"} <= set(table.column_names)
        assert np.isfinite(table["height"].to_numpy()).all()
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == sorted(
        ["split.json", "report.md", "report.png"]
        + [f"{s}/n5_k2_m{m}.parquet" for s in ("train", "val", "test") for m in (1, 2, 3)]
    )
    totals = summary["totals"]
    assert totals["read"] == 300 and totals["infinite"] > 0
    assert totals["read"] == sum(totals[c] for c in ("infinite", "duplicate", "unused")) + sum(
        totals[s] for s in ("train", "val", "test")
    )
    assert summary["inputs"] == [str(data / "run1"), str(data / "run2")]
    assert summary["parameters"]["seed"] == 4 and summary["parameters"]["dedup"] is True
    assert (out / "report.md").read_text() in result.stdout
    assert "| 5 | 2 | 3 |" in result.stdout.replace("  ", " ")
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_same_inputs_and_seed_give_identical_files(data, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run(data / "run1", data / "run2", "--out", a, "--format", "both").exit_code == 0
    assert run(data / "run1", data / "run2", "--out", b, "--format", "both").exit_code == 0
    assert run(data / "run2", data / "run1", "--out", c, "--format", "both").exit_code == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
        if f.suffix in (".parquet", ".pkl"):  # input order changes split.json's inputs only
            assert (a / f).read_bytes() == (c / f).read_bytes(), f


def test_duplicated_inputs_are_deduplicated_and_reported(data, tmp_path):
    copy = tmp_path / "copy"
    for f in (data / "run1").rglob("*.parquet"):
        write_atomic(pq.read_table(f), copy / f.relative_to(data / "run1"))
    result = run(data / "run1", copy, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "split.json").read_text())
    finite = 180 - summary["totals"]["infinite"] // 2
    assert summary["totals"]["duplicate"] == finite
    train = read_table([tmp_path / "out"]).select(["n", "k", "m", "P"]).to_pylist()
    assert len({(r["m"], tuple(r["P"])) for r in train}) == len(train)


def test_refuses_a_non_empty_out_unless_overwrite(data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run(data / "run1", "--out", out)
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert run(data / "run1", "--out", out, "--overwrite").exit_code == 0
    assert not (out / "keep.txt").exists() and (out / "split.json").exists()
    # No staging folder left behind; the (empty, hidden) lock file of OUT stays.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]


def test_pickle_format_writes_course_dataframes_only(data, tmp_path):
    out = tmp_path / "out"
    assert run(data / "run1", "--out", out, "--format", "pickle").exit_code == 0
    assert sorted(p.name for p in (out / "val").iterdir()) == [f"n5_k2_m{m}.pkl" for m in (1, 2, 3)]


def bad_inputs(tmp_path: Path, data: Path) -> dict[str, tuple[list, str]]:
    """name -> (arguments before --out, expected message fragment)."""
    good = data / "run1" / "n5_k2_m1" / "part-00000.parquet"
    table = pq.read_table(good)
    pq.write_table(table.drop_columns(["height"]), tmp_path / "noheight.parquet")
    pq.write_table(table.drop_columns(["P"]), tmp_path / "nop.parquet")
    pq.write_table(table.slice(0, 0), tmp_path / "norows.parquet")
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "garbage.parquet").write_bytes(b"this is not parquet")
    (tmp_path / "nothing").mkdir()
    return {
        "missing height": ([tmp_path / "noheight.parquet"], "missing column(s): height"),
        "missing P": ([tmp_path / "nop.parquet"], "missing column(s): P"),
        "zero rows": ([tmp_path / "norows.parquet"], "no rows"),
        "empty file": ([tmp_path / "empty.parquet"], "not a readable Parquet file"),
        "unreadable": ([good, tmp_path / "garbage.parquet"], "garbage.parquet: not a readable"),
        "empty folder": ([tmp_path / "nothing"], "folder holds no .parquet files"),
        "missing path": ([tmp_path / "absent"], "no such file or folder"),
        "no inputs": ([], "no inputs"),
        "val-frac": ([good, "--val-frac", "1.5"], "--val-frac 1.5 out of range"),
        "val+test": ([good, "--val-frac", ".5", "--test-frac", ".5"], "no training rows"),
        "per-group": ([good, "--per-group", "31"], "exceeds the smallest group"),
        "out in input": ([data], "overlaps input"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing height",
        "missing P",
        "zero rows",
        "empty file",
        "unreadable",
        "empty folder",
        "missing path",
        "no inputs",
        "val-frac",
        "val+test",
        "per-group",
        "out in input",
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(case, data, tmp_path):
    args, message = bad_inputs(tmp_path, data)[case]
    out = data / "splits" if case == "out in input" else tmp_path / "out"
    result = run(*args, "--out", out)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out")]
