"""mh-eval and mh-predict outputs, and the course-shaped predict(n, k, m, P_list)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from training_runs import invoke

from training.cli import eval_main, predict_main
from training.predict import Predictor, load_predictor
from training.synthetic import synthetic_table


def test_predict_keeps_columns_and_matches_the_python_api(tmp_path, trained_run, split_dir):
    source = tmp_path / "in.parquet"
    table = synthetic_table([(9, 4, 2), (10, 5, 2)], 6, seed=9).drop_columns(["height"])
    pq.write_table(table.append_column("note", table.column("n").cast("string")), source)
    out = tmp_path / "out" / "pred.parquet"
    result = invoke(predict_main, ["--checkpoint", trained_run / "best.pt", source, "-o", out])
    assert result.exit_code == 0, result.output
    written = pq.read_table(out)
    assert written.column_names == ["n", "k", "m", "P", "note", "height_pred"]
    heights = written.column("height_pred").to_numpy()
    assert np.isfinite(heights).all() and (heights >= 1).all()

    predict = load_predictor(trained_run)  # a run folder means its best.pt
    P = [np.array(p).reshape(4, 5) for p in table.column("P").to_pylist()[:6]]
    as_lists = predict(9, 4, 2, [p.tolist() for p in P])
    assert isinstance(as_lists, list) and len(as_lists) == 6
    np.testing.assert_allclose(as_lists, heights[:6], rtol=1e-6)
    np.testing.assert_allclose(predict(9, 4, 2, P), as_lists)
    assert predict(9, 4, 2, []) == []


def test_predict_replaces_an_existing_prediction_column(tmp_path, trained_run):
    source = tmp_path / "in.parquet"
    pq.write_table(synthetic_table([(9, 4, 3)], 4, seed=2), source)
    for _ in range(2):
        result = invoke(predict_main, ["--checkpoint", trained_run, source, "-o", source])
        assert result.exit_code == 0, result.output
    assert pq.read_table(source).column_names == ["n", "k", "m", "P", "height", "height_pred"]


def test_eval_reads_split_folders_files_and_prints_a_table(trained_run, split_dir):
    text = invoke(eval_main, ["--checkpoint", trained_run, "--data", split_dir])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("log2-MSE ") and "| 10 | 4 | 4 |" in text.stdout
    on_val = json.loads(
        invoke(eval_main, ["--checkpoint", trained_run, "--data", split_dir, "--json"]).stdout
    )
    on_train = json.loads(
        invoke(
            eval_main,
            ["--checkpoint", trained_run, "--data", split_dir, "--split", "train", "--json"],
        ).stdout
    )
    one_file = split_dir / "val" / "n9_k4_m2" / "part-00000.parquet"
    single = json.loads(
        invoke(eval_main, ["--checkpoint", trained_run, "--data", one_file, "--json"]).stdout
    )
    assert on_val["data"].endswith("val") and on_val["rows"] == 160
    assert on_train["dropped_infinite"] == 2 and on_train["rows"] == 478
    assert len(single["groups"]) == 1 and single["groups"][0]["rows"] == 40
    assert single["log2_mse"] == single["groups"][0]["log2_mse"]
    assert on_val["log2_mse"] == np.mean([g["log2_mse"] for g in on_val["groups"]])


def test_predictor_accepts_numpy_scalars(trained_run):
    predictor = Predictor(trained_run / "best.pt")
    heights = predictor(np.int64(10), np.int32(5), 2, np.zeros((3, 5, 5)))
    assert len(heights) == 3 and all(h >= 1 for h in heights)


def test_predict_reads_a_folder_in_evals_order(tmp_path, trained_run, split_dir):
    """A folder is read recursively like mh-eval reads it; one output, rows in input order."""
    out = tmp_path / "pred.parquet"
    result = invoke(predict_main, ["--checkpoint", trained_run, split_dir / "val", "-o", out])
    assert result.exit_code == 0, result.output
    written = pq.read_table(out)
    files = sorted((split_dir / "val").rglob("*.parquet"))
    expected = pa.concat_tables([pq.read_table(f) for f in files])
    assert written.num_rows == expected.num_rows == 160
    assert written.column("P").to_pylist() == expected.column("P").to_pylist()
    one = tmp_path / "one.parquet"
    assert invoke(predict_main, ["--checkpoint", trained_run, files[1], "-o", one]).exit_code == 0
    np.testing.assert_allclose(
        written.column("height_pred").to_numpy()[40:80], pq.read_table(one)["height_pred"]
    )


def test_predict_fills_columns_missing_from_some_files(tmp_path, trained_run):
    folder = tmp_path / "mixed"
    folder.mkdir()
    plain = synthetic_table([(9, 4, 3)], 3, seed=4)
    pq.write_table(plain, folder / "a.parquet")
    pq.write_table(plain.append_column("note", pa.array(["x", "y", "z"])), folder / "b.parquet")
    out = tmp_path / "pred.parquet"
    assert invoke(predict_main, ["--checkpoint", trained_run, folder, "-o", out]).exit_code == 0
    assert pq.read_table(out).column("note").to_pylist() == [None] * 3 + ["x", "y", "z"]


def test_eval_refuses_a_split_the_folder_lacks(trained_run, split_dir):
    result = invoke(
        eval_main, ["--checkpoint", trained_run, "--data", split_dir, "--split", "test"]
    )
    assert result.exit_code == 2 and "has no test/" in result.output
    result = invoke(eval_main, ["--checkpoint", trained_run, "--data", split_dir, "--split", "x"])
    assert result.exit_code == 2
