"""The README's promise, command by command: bad input gets one line, exit 2, nothing written.

Each data command (mh-gen, mh-split, mh-import, mh-solve) is given the same kinds of bad
input: an output on a read-only file system, an output of the wrong kind (a file where a folder
goes, or the reverse), an option value of the wrong type, an output another run holds, and (for
the commands that read contract files) columns of the wrong type.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_checks import one_line_error
from click.testing import CliRunner
from filelock import FileLock

from pipeline import cli_gen, cli_import, cli_solve, cli_split
from pipeline.contract import p_column
from pipeline.manifest import LOCK
from pipeline.staging import lock_path

COMMANDS = ("gen", "split", "import", "solve")
GEN = ["--n", "6", "--k", "3", "--m", "2", "--samples", "20", "--no-progress"]


def labelled(rows: int = 12) -> pa.Table:
    """A valid contract table of one group, exact heights not needed (split reads any)."""
    P = np.random.default_rng(0).integers(-9, 10, size=(rows, 2, 3)).astype(float)
    return pa.table(
        {
            "n": pa.array([5] * rows, pa.int32()),
            "k": pa.array([2] * rows, pa.int32()),
            "m": pa.array([2] * rows, pa.int32()),
            "P": p_column(P),
            "height": pa.array(np.arange(rows) + 1.0),
        }
    )


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    """One good input per command: a contract file, a folder of shards, a course pickle."""
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(labelled(), folder / "rows.parquet")
    frame = pd.DataFrame(
        {"n": [5, 5], "k": [2, 2], "m": [2, 2], "result": [3.0, 4.0],
         "P": [np.ones((2, 3)), np.arange(6.0).reshape(2, 3)]}
    )  # fmt: skip
    frame.to_pickle(tmp_path / "course.pkl")
    return {"parquet": folder / "rows.parquet", "folder": folder, "pickle": tmp_path / "course.pkl"}


def invoke(command: str, inputs: dict[str, Path], out: Path, *extra: str):
    """Run ``command`` in-process on its good input, writing to ``out``."""
    if command == "gen":
        main, args = cli_gen.main, [*GEN, "--out", out]
    elif command == "split":
        main, args = cli_split.main, [inputs["folder"], "--out", out]
    elif command == "import":
        main, args = cli_import.main, [inputs["pickle"], "--out", out, "--trust-pickle"]
    else:
        main, args = cli_solve.main, [inputs["parquet"], "-o", out, "--no-progress"]
    return CliRunner().invoke(main, [str(a) for a in [*args, *extra]])


def entries(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("command", COMMANDS)
def test_output_on_a_read_only_file_system(command, inputs, readonly_dir):
    out = readonly_dir / ("out.parquet" if command == "solve" else "out")
    one_line_error(invoke(command, inputs, out), "not writable", "read-only file system")
    assert entries(readonly_dir) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_output_under_a_read_only_folder_that_does_not_exist_yet(command, inputs, readonly_dir):
    out = readonly_dir / "a" / "b" / ("out.parquet" if command == "solve" else "out")
    one_line_error(invoke(command, inputs, out), "not writable", str(readonly_dir))


@pytest.mark.parametrize("command", COMMANDS)
def test_output_of_the_wrong_kind(command, inputs, tmp_path):
    if command == "solve":
        out = tmp_path / "a-folder"
        out.mkdir()
        words = ("is a folder",)
    else:
        out = tmp_path / "a-file"
        out.write_text("mine")
        words = ("not a folder",)
    before = entries(tmp_path)
    one_line_error(invoke(command, inputs, out), *words)
    assert entries(tmp_path) == before


@pytest.mark.parametrize(
    "command, option, value, words",
    [
        ("gen", "--n", "9.5", "'9.5' is not a valid integer"),
        ("gen", "--seed", "x", "'x' is not a valid integer"),
        ("gen", "--connect-timeout", "0", "--connect-timeout must be > 0"),
        ("split", "--seed", "1.5", "'1.5' is not a valid integer"),
        ("split", "--val-frac", "half", "'half' is not a valid float"),
        ("split", "--format", "csv", "'csv' is not one of"),
        ("import", "--no-such-option", None, "No such option"),
        ("solve", "--chunk-size", "2.5", "'2.5' is not a valid integer"),
        ("solve", "--connect-timeout", "-1", "--connect-timeout must be > 0"),
    ],
)
def test_option_values_of_the_wrong_type(command, option, value, words, inputs, tmp_path):
    out = tmp_path / "out"
    extra = [option] if value is None else [option, value]
    one_line_error(invoke(command, inputs, out, *extra), words)
    assert not out.exists()


@pytest.mark.parametrize("command", ["gen", "split", "import"])
def test_output_held_by_another_run_is_refused(command, inputs, tmp_path):
    out = tmp_path / "out"
    lock = out / LOCK if command == "gen" else lock_path(out)
    lock.parent.mkdir(exist_ok=True)
    before = entries(tmp_path)
    with FileLock(str(lock)):
        one_line_error(invoke(command, inputs, out), "being written by another run")
    assert entries(tmp_path) == sorted([*before, lock.relative_to(tmp_path).as_posix()])


def _typed_tables() -> dict[str, tuple[pa.Table, str]]:
    good = labelled(3)
    rows = good.num_rows
    P = good["P"].to_pylist()
    return {
        "n as strings": (
            good.set_column(0, "n", pa.array(["5"] * rows)),
            "column n has type string",
        ),
        "n not whole": (good.set_column(0, "n", pa.array([5.0, 9.5, 5.0])), "n=9.5 is not a whole"),
        "n missing": (good.set_column(0, "n", pa.array([5, None, 5], pa.int32())), "n is missing"),
        "P a plain string": (
            good.set_column(3, "P", pa.array(["1,2,3,4,5,6"] * rows)),
            "column P has type string",
        ),
        "P list of strings": (
            good.set_column(3, "P", pa.array([[str(v) for v in p] for p in P])),
            "need a list of numbers",
        ),
        "P null entry": (
            good.set_column(3, "P", pa.array([[None, *p[1:]] for p in P])),
            "P has a missing (null) entry",
        ),
        "height as strings": (
            good.set_column(4, "height", pa.array(["3"] * rows)),
            "column height has type string",
        ),
    }


@pytest.mark.parametrize("command", ["split", "solve"])
@pytest.mark.parametrize("case", sorted(_typed_tables()))
def test_columns_of_the_wrong_type(command, case, tmp_path):
    table, words = _typed_tables()[case]
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(table, folder / "rows.parquet")
    paths = {"parquet": folder / "rows.parquet", "folder": folder}
    out = tmp_path / ("out.parquet" if command == "solve" else "out")
    one_line_error(invoke(command, paths, out), words)
    assert not out.exists()


def test_import_refuses_a_pickle_with_string_columns(inputs, tmp_path):
    frame = pd.read_pickle(inputs["pickle"]).assign(n=["five", "five"])
    frame.to_pickle(inputs["pickle"])
    one_line_error(invoke("import", inputs, tmp_path / "out"), "n, k, m must be integers")
    assert not (tmp_path / "out").exists()


def test_integer_P_is_read_as_the_contract_doubles(inputs, tmp_path):
    table = labelled(4)
    ints = pa.array([[int(v) for v in p] for p in table["P"].to_pylist()], pa.list_(pa.int64()))
    pq.write_table(table.set_column(3, "P", ints), inputs["parquet"])
    result = invoke("solve", inputs, tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.schema.field("P").type == pa.list_(pa.float64())
    assert written["P"].to_pylist() == table["P"].to_pylist()


@pytest.mark.parametrize("module", ["cli_gen", "cli_solve"])
def test_unreachable_cluster_is_one_line_and_writes_nothing(module, run_cli, inputs, tmp_path):
    out = tmp_path / ("out.parquet" if module == "cli_solve" else "out")
    args = [*GEN, "--out", out] if module == "cli_gen" else [inputs["parquet"], "-o", out]
    result = run_cli(module, *args, "--address", "127.0.0.1:1", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Ray at 127.0.0.1:1" in lines[0], result.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", ["gen", "solve"])
def test_a_cuda_device_this_machine_lacks_is_refused_before_work(
    command, inputs, tmp_path, monkeypatch
):
    import torch

    from solver.torch_backend import DEVICE_ENV

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv(DEVICE_ENV, "cpu")  # --device sets it in-process; restored afterwards
    out = tmp_path / "out"
    result = invoke(command, inputs, out, "--method", "vertex-torch", "--device", "cuda")
    one_line_error(result, "--device", "no CUDA device")
    assert not out.exists()
