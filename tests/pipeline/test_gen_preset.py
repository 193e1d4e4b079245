"""The course-1m preset end to end: 21 groups, a million finite rows (slow: ~20 s on 2 cores)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pytest

from pipeline.contract import read_table


@pytest.mark.slow
def test_course_1m_preset(tmp_path, run_cli):
    out = tmp_path / "course"
    result = run_cli("cli_gen", "--preset", "course-1m", "--out", out, "--no-progress", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrote 1,000,000 rows in 21 shards" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    groups = [(g["n"], g["k"], g["m"], g["rows"]) for g in manifest["config"]["groups"]]
    assert len(groups) == 21 and groups[0] == (9, 4, 2, 47_620)
    assert {g[3] for g in groups[1:]} == {47_619}
    assert manifest["config"]["p_dist"] == {"kind": "int", "lo": -100.0, "hi": 100.0}
    table = read_table([out])
    assert table.num_rows == 1_000_000
    assert np.isfinite(table["height"].to_numpy()).all()
    flat = pc.list_flatten(table["P"]).to_numpy()
    assert flat.min() == -100 and flat.max() == 100 and np.array_equal(flat, np.round(flat))


def test_course_preset_takes_real_p(tmp_path, run_cli):
    """--preset course-1m --p-dist real: the 2025 course's distribution, P stored as float32."""
    out = tmp_path / "real"
    result = run_cli("cli_gen", "--preset", "course-1m", "--p-dist", "real", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_cli(
        "cli_gen", "--n", "9", "--k", "4", "--m", "5", "--samples", "300", "--p-dist", "real",
        "--out", out, "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["p_dist"] == {
        "kind": "real", "lo": -100.0, "hi": 100.0, "float32": True
    }  # fmt: skip
    flat = pc.list_flatten(read_table([out])["P"]).to_numpy()
    assert np.array_equal(flat, flat.astype(np.float32).astype(np.float64))
    assert not np.array_equal(flat, np.round(flat))  # real values, not integers
