"""mh-import: consent for unpickling, the course's DataFrame variants, bad files, round trip."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli_import import main
from pipeline.cli_split import main as split_main
from pipeline.contract import p_column, read_table, write_atomic

CONTRACT = ["n", "k", "m", "P", "height"]


def course_frame(n: int, k: int, m: int, rows: int, seed: int, flat: bool = False) -> pd.DataFrame:
    """A DataFrame as the original experiments pickled it: P per row, 2-D or flattened."""
    rng = np.random.default_rng(seed)
    P = rng.integers(-100, 101, size=(rows, k, n - k)).astype(float)
    return pd.DataFrame(
        {
            "n": [n] * rows,
            "k": [k] * rows,
            "m": [m] * rows,
            "result": rng.uniform(1, 1e4, rows),
            "P": [p.reshape(-1).tolist() for p in P] if flat else list(P),
        }
    )


def expected_rows(frame: pd.DataFrame) -> list[dict]:
    return [
        {"n": r.n, "k": r.k, "m": r.m, "P": np.ravel(r.P).tolist(), "height": r.result}
        for r in frame.itertuples()
    ]


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_refuses_to_unpickle_without_consent(tmp_path):
    course_frame(6, 3, 2, 5, 0).to_pickle(tmp_path / "a.pkl")
    result = run(tmp_path / "a.pkl", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "--trust-pickle" in result.stderr
    assert "runs whatever code" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_imports_a_folder_of_course_pickles(tmp_path):
    src = tmp_path / "course"
    frames = {
        "n6_k3_m2.pkl": course_frame(6, 3, 2, 7, 0),
        "more/n7_k3_m4.pickle": course_frame(7, 3, 4, 5, 1, flat=True),
    }
    for name, frame in frames.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_pickle(src / name)
    (src / "notes.txt").write_text("ignored")
    result = run(src, "--out", tmp_path / "out", "--trust-pickle")
    assert result.exit_code == 0, result.output
    assert "imported 12 rows from 2 file(s)" in result.stdout
    for name, frame in frames.items():
        path = tmp_path / "out" / Path(name).with_suffix(".parquet")
        table = read_table([path], require_height=True)
        assert table.select(CONTRACT).to_pylist() == expected_rows(frame)
        assert table["source"].to_pylist() == [name] * len(frame)
        assert table["source_row"].to_pylist() == list(range(len(frame)))
    assert (tmp_path / "out" / "import.json").exists()


def test_imports_a_single_file(tmp_path):
    frame = course_frame(6, 2, 3, 4, 2)
    frame.to_pickle(tmp_path / "one.pickle")
    assert run(tmp_path / "one.pickle", "--out", tmp_path / "out", "--trust-pickle").exit_code == 0
    table = read_table([tmp_path / "out" / "one.parquet"])
    assert table.select(CONTRACT).to_pylist() == expected_rows(frame)


def bad_sources(src: Path) -> dict[str, tuple[Path, str]]:
    """name -> (SRC argument, expected message fragment); each writes its own file."""
    frame = course_frame(7, 3, 2, 4, 0)
    cases = {
        "missing column": (frame.drop(columns="result"), "missing column(s): result"),
        "transposed P": (
            frame.assign(P=[p.T for p in frame.P]),
            "P has shape (4, 3), need (k, n-k) = (3, 4)",
        ),
        "wrong P length": (frame.assign(P=[[1.0, 2.0]] * 4), "P has 2 entries, need k*(n-k) = 12"),
        "k >= n": (frame.assign(k=7), "need 1 <= k < n"),
        "NaN result": (frame.assign(result=np.nan), "result is NaN"),
        "empty frame": (frame.iloc[:0], "no rows"),
        "not a frame": ({"n": 6}, "holds a dict, not a pandas DataFrame"),
    }
    out = {}
    for name, (obj, message) in cases.items():
        path = src / f"{name.replace(' ', '_')}.pkl"
        path.write_bytes(pickle.dumps(obj))
        out[name] = (path, message)
    (src / "garbage.pkl").write_bytes(b"not a pickle at all")
    out["garbage"] = (src / "garbage.pkl", "not a readable pickle")
    (src / "nothing").mkdir()
    out["empty folder"] = (src / "nothing", "holds no .pkl or .pickle files")
    out["missing"] = (src / "absent", "no such file or folder")
    (src / "twice").mkdir()
    frame.to_pickle(src / "twice" / "a.pkl")
    frame.to_pickle(src / "twice" / "a.pickle")
    out["collision"] = (src / "twice", "would both be written to a.parquet")
    return out


@pytest.mark.parametrize(
    "case",
    [
        "missing column",
        "transposed P",
        "wrong P length",
        "k >= n",
        "NaN result",
        "empty frame",
        "not a frame",
        "garbage",
        "empty folder",
        "missing",
        "collision",
    ],
)
def test_bad_pickles_one_line_exit_2_nothing_written(case, tmp_path):
    (tmp_path / "src").mkdir()
    src, message = bad_sources(tmp_path / "src")[case]
    result = run(src, "--out", tmp_path / "out", "--trust-pickle")
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_round_trip_contract_to_pickle_split_and_back(tmp_path):
    """mh-split --format both, then mh-import of its pickles: the same rows, file by file."""
    rng = np.random.default_rng(5)
    for m in (1, 2):
        P = rng.integers(-100, 101, size=(30, 2, 3)).astype(float) + rng.uniform(0, 1, (30, 2, 3))
        table = pa.table(
            {
                "n": pa.array([5] * 30, pa.int32()),
                "k": pa.array([2] * 30, pa.int32()),
                "m": pa.array([m] * 30, pa.int32()),
                "P": p_column(P),
                "height": rng.uniform(1, 1e6, 30),
            }
        )
        write_atomic(table, tmp_path / "data" / f"m{m}.parquet")
    split = tmp_path / "split"
    args = [str(tmp_path / "data"), "--out", str(split), "--format", "both", "--test-frac", ".2"]
    assert CliRunner().invoke(split_main, args).exit_code == 0
    result = run(split, "--out", tmp_path / "back", "--trust-pickle")
    assert result.exit_code == 0, result.output
    originals = sorted(split.rglob("*.parquet"))
    assert len(originals) == 6
    for original in originals:
        back = pq.read_table(tmp_path / "back" / original.relative_to(split))
        assert back.select(CONTRACT).equals(pq.read_table(original).select(CONTRACT))
