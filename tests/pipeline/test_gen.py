"""mh-gen on the session's local Ray: layout, contract, manifest, sampling, resume, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_checks import one_line_error
from click.testing import CliRunner

from pipeline.cli_gen import main
from pipeline.contract import read_table
from pipeline.plan import spread
from pipeline.shards import sha256_file
from solver import m_heights

# Two groups (m = 2, 3 = n-k) of 300 rows in shards of 100: six shards, some infinite draws.
SMALL = ["--n", "6", "--k", "3", "--samples", "300", "--shard-size", "100", "--no-progress"]
SCHEMA = pa.schema(
    [
        ("n", pa.int32()), ("k", pa.int32()), ("m", pa.int32()), ("P", pa.list_(pa.float64())),
        ("height", pa.float64()), ("seed", pa.int64()), ("shard", pa.int32()),
        ("row", pa.int64()), ("node_id", pa.string()),
    ]
)  # fmt: skip


def gen(*args: str | Path):
    return CliRunner().invoke(main, [str(a) for a in args])


def generated(out: Path, *args: str | Path) -> dict:
    """Run mh-gen (must succeed) and return its manifest."""
    result = gen(*SMALL, "--out", out, *args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "manifest.json").read_text())


def rows(out: Path) -> pa.Table:
    """Every row of a dataset in (n, k, m, row) order, without the run-dependent node_id."""
    table = read_table([out]).drop_columns(["node_id"])
    return table.sort_by([("n", "ascending"), ("k", "ascending"), ("m", "ascending"),
                          ("row", "ascending")])  # fmt: skip


def test_layout_contract_and_provenance(tmp_path, ray_session):
    out = tmp_path / "ds"
    generated(out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    parts = [f"n6_k3_m{m}/part-{i:05d}.parquet" for m in (2, 3) for i in range(3)]
    assert files == [".mh-gen.lock", "manifest.json", *parts]  # the lock stays, hidden
    node = ray_session.get_runtime_context().get_node_id()
    for part in parts:
        table = pq.read_table(out / part)
        assert table.schema.equals(SCHEMA), table.schema
        shard = int(part[-13:-8])
        assert table["shard"].to_pylist() == [shard] * 100
        assert table["row"].to_pylist() == list(range(100 * shard, 100 * shard + 100))
        assert set(table["node_id"].to_pylist()) == {node}
    table = rows(out)
    for m in (2, 3):
        group = table.filter(pa.compute.equal(table["m"], m))
        P = np.array(group["P"].to_pylist()).reshape(-1, 3, 3)
        assert group["row"].to_pylist() == list(range(300))  # nothing missing or duplicated
        assert np.array_equal(P, np.round(P)) and P.min() >= -100 and P.max() <= 100
        heights = group["height"].to_numpy()
        assert np.isfinite(heights).all()  # --infinite resample is the default
        # checked by another method than the one that labelled them (vertex): Roth's LPs
        np.testing.assert_allclose(heights[:40], m_heights(P[:40], m, method="highs"), rtol=1e-9)
    assert set(table["seed"].to_pylist()) == {20250101}


def test_manifest_records_arguments_checksums_versions_and_costs(tmp_path, ray_session):
    out = tmp_path / "ds"
    manifest = generated(out)
    config = manifest["config"]
    assert config["seed"] == 20250101 and config["convention"] == "exact"
    assert config["p_dist"] == {"kind": "int", "lo": -100.0, "hi": 100.0}
    assert config["infinite"] == "resample"
    assert [(g["m"], g["rows"], g["method"], g["shard_size"]) for g in config["groups"]] == [
        (2, 300, "pruned", 100), (3, 300, "pruned", 100)
    ]  # fmt: skip
    assert manifest["complete"] and {"numpy", "pyarrow", "ray", "mheight"} <= set(
        manifest["versions"]
    )
    umask = os.umask(0)
    os.umask(umask)
    for path, record in manifest["shards"].items():
        assert record["sha256"] == sha256_file(out / path) and record["rows"] == 100
        assert (out / path).stat().st_mode & 0o777 == 0o666 & ~umask  # readable as umask allows
    assert manifest["totals"]["rows"] == 600
    assert manifest["totals"]["redraws"] > 0  # m = n-k: ~10% of integer matrices are infinite
    summary = manifest["runs"][-1]["summary"]
    assert summary["shards_written"] == 6 and summary["rows_written"] == 600
    costs = ("wall_s", "rows_per_s", "solve_s", "sample_s", "write_s", "busy_s", "ray_overhead_s")
    assert all(isinstance(summary[key], float) for key in costs)
    assert summary["solve_s"] > 0 and summary["busy_s"] <= summary["wall_s"] * summary["cpus"]


def test_summary_is_printed(tmp_path, ray_session):
    result = gen(*SMALL, "--out", tmp_path / "ds")
    assert result.exit_code == 0, result.output
    assert "wrote 600 rows in 6 shards" in result.output
    assert "solve" in result.output and "Ray overhead" in result.output


def test_every_row_has_its_own_P_and_seed_changes_them(tmp_path, ray_session):
    generated(tmp_path / "a")
    generated(tmp_path / "b")
    generated(tmp_path / "c", "--seed", "7")
    a, b, c = rows(tmp_path / "a"), rows(tmp_path / "b"), rows(tmp_path / "c")
    assert a.equals(b)
    P = [tuple(p) for p in a["P"].to_pylist()]
    assert len(set(P)) == len(P)  # never the same P in two groups (train/val leakage)
    assert not set(P) & {tuple(p) for p in c["P"].to_pylist()}


def test_infinite_rows_resampled_or_kept(tmp_path, ray_session):
    base = ["--n", "5", "--k", "2", "--m", "3", "--samples", "200", "--p-range", "-2", "2",
            "--no-progress"]  # fmt: skip
    assert gen(*base, "--out", tmp_path / "keep", "--infinite", "keep").exit_code == 0
    kept = rows(tmp_path / "keep")
    infinite = np.isinf(kept["height"].to_numpy())
    assert infinite.sum() > 20
    assert gen(*base, "--out", tmp_path / "re").exit_code == 0
    manifest = json.loads((tmp_path / "re" / "manifest.json").read_text())
    redrawn = rows(tmp_path / "re")
    assert np.isfinite(redrawn["height"].to_numpy()).all()
    # Same stream: the first draw is shared, only the infinite rows were drawn again.
    assert manifest["totals"]["redraws"] >= infinite.sum()
    finite = pa.array(np.flatnonzero(~infinite))
    assert redrawn.take(finite).equals(kept.take(finite))
    assert not redrawn.take(pa.array(np.flatnonzero(infinite)))["P"].equals(
        kept.take(pa.array(np.flatnonzero(infinite)))["P"]
    )


@pytest.mark.parametrize("m", ["2", "3"])
def test_resample_that_cannot_succeed_is_refused_before_writing(tmp_path, m):
    result = gen("--n", "5", "--k", "2", "--m", m, "--samples", "10", "--p-range", "0", "0",
                 "--no-progress", "--out", tmp_path / "ds")  # fmt: skip
    one_line_error(result, f"m={m}: all 1023 probe draws have infinite height", "--infinite keep")
    assert not (tmp_path / "ds").exists()


def test_real_valued_P_and_skip_unbounded_convention(tmp_path, ray_session):
    manifest = generated(
        tmp_path / "ds", "--p-dist", "real", "--p-range", "-1", "1", "--convention",
        "skip-unbounded",
    )  # fmt: skip
    assert manifest["config"]["convention"] == "skip-unbounded"
    P = np.array(rows(tmp_path / "ds")["P"].to_pylist())
    assert P.min() >= -1 and P.max() < 1 and not np.array_equal(P, np.round(P))


def test_rerun_skips_intact_and_redoes_damaged_missing_or_unrecorded(tmp_path, ray_session):
    out = tmp_path / "ds"
    generated(out)
    before = rows(out)
    corrupt = out / "n6_k3_m2" / "part-00001.parquet"
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    corrupt.write_bytes(bytes(data))
    (out / "n6_k3_m3" / "part-00000.parquet").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["shards"]["n6_k3_m3/part-00002.parquet"]  # a record lost to a killed driver
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "n6_k3_m2" / ".part-00002.parquet.x1.tmp").write_bytes(b"half a shard")
    result = gen(*SMALL, "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote 300 rows in 3 shards (3 intact shards skipped)" in result.output
    assert rows(out).equals(before)
    assert not list(out.rglob("*.tmp"))
    again = gen(*SMALL, "--out", out, "--num-cpus", "1")  # not a data argument
    assert again.exit_code == 0 and "nothing to do: all 6 shards" in again.output


def test_changed_arguments_are_refused_unless_overwrite(tmp_path, ray_session):
    out = tmp_path / "ds"
    generated(out)
    before = (out / "manifest.json").read_text()
    one_line_error(gen(*SMALL, "--out", out, "--seed", "1"), "seed differ", "--overwrite")
    one_line_error(gen(*SMALL, "--out", out, "--shard-size", "150"), "shard_size differ")
    one_line_error(gen(*SMALL, "--out", out, "--convention", "skip-unbounded"), "convention")
    assert (out / "manifest.json").read_text() == before
    smaller = ["--n", "6", "--k", "3", "--samples", "150", "--shard-size", "100"]
    result = gen(*smaller, "--out", out, "--seed", "1", "--overwrite", "--no-progress")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "n6_k3_m2").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet"
    ]  # fmt: skip
    assert rows(out).num_rows == 300 and set(rows(out)["seed"].to_pylist()) == {1}


def test_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    one_line_error(gen(*SMALL, "--out", tmp_path), "not empty", "notes.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--n", "5", "--k", "5", "--samples", "10"], "need 1 <= k < n"),
        (["--n", "9", "--k", "4", "--m", "6", "--samples", "10"], "m=6 out of range"),
        (["--n", "9", "--k", "4", "--m", "0", "--samples", "10"], "m=0 out of range"),
        (["--n", "9", "--k", "4", "--samples", "0"], "at least 1 sample"),
        (["--n", "9", "--k", "4", "--samples", "5", "--p-range", "3", "-3"], "above HI"),
        (["--n", "9", "--k", "4", "--samples", "5", "--p-range", "0", "1.5"], "integer bounds"),
        (["--n", "9", "--k", "4", "--samples", "5", "--p-dist", "gauss"], "P distribution"),
        (["--n", "9", "--k", "4", "--samples", "5", "--method", "simplex"], "unknown method"),
        (["--n", "9", "--k", "4", "--samples", "5", "--convention", "x"], "unknown convention"),
        (["--n", "9", "--k", "4", "--samples", "5", "--infinite", "drop"], "--infinite"),
        (["--n", "9", "--k", "4", "--samples", "5", "--shard-size", "0"], "shard size"),
        (["--n", "9", "--k", "4", "--samples", "5", "--seed", "-1"], "seed"),
        (["--n", "9", "--k", "4", "--samples", "5", "--num-cpus", "0"], "--num-cpus"),
        (["--n", "9", "--samples", "5"], "need --n, --k and --samples"),
        (["--preset", "course-2m"], "unknown preset"),
        (["--preset", "course-1m", "--samples", "5"], "fixes --samples"),
        (["--preset", "course-1m", "--n", "9", "--p-range", "0", "1"], "--n, --p-range"),
    ],
)
def test_bad_arguments_get_one_line_error_and_write_nothing(tmp_path, args, words):
    one_line_error(gen(*args, "--out", tmp_path / "ds"), words)
    assert not (tmp_path / "ds").exists()


def test_out_is_required_except_for_dry_run(tmp_path):
    one_line_error(gen("--n", "6", "--k", "3", "--samples", "5"), "need --out")


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    result = gen("--preset", "course-1m", "--dry-run", "--num-cpus", "2", "--out", tmp_path / "ds")
    assert result.exit_code == 0, result.output
    assert "n9_k4_m2" in result.output and "47,620" in result.output
    assert "n10_k6_m4" in result.output and "47,619" in result.output
    assert "total: 21 groups, 1,000,000 rows, 21 shards" in result.output
    assert "estimated" in result.output and "warning" not in result.output
    assert not (tmp_path / "ds").exists()


def test_dry_run_warns_when_shards_cannot_keep_every_cpu_busy(tmp_path):
    args = ("--n", "7", "--k", "3", "--m", "2", "--samples", "100", "--out", tmp_path / "ds")
    result = gen(*args, "--dry-run", "--num-cpus", "8")
    assert result.exit_code == 0, result.output
    assert "warning: 1 shards for 8 CPUs leaves 7 idle" in result.output


def test_course_preset_spreads_a_million_rows_over_21_groups():
    counts = spread(1_000_000, 21)
    assert sum(counts) == 1_000_000 and counts[0] == 47_620 and set(counts[1:]) == {47_619}
