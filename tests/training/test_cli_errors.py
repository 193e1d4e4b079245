"""Bad input: one line, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from cli_checks import one_line_error
from training_runs import TINY_MLP, invoke

from training.cli import eval_main, predict_main, train_main
from training.synthetic import synthetic_table


def parquet(path, table: pa.Table):
    pq.write_table(table, path)
    return path


@pytest.fixture
def files(tmp_path):
    good = synthetic_table([(9, 4, 2)], 20, seed=3)
    return {
        "good": parquet(tmp_path / "good.parquet", good),
        "no_height": parquet(tmp_path / "no_height.parquet", good.drop_columns(["height"])),
        "no_P": parquet(tmp_path / "no_P.parquet", good.drop_columns(["P"])),
        "empty": parquet(tmp_path / "empty.parquet", good.slice(0, 0)),
        "big": parquet(tmp_path / "big.parquet", synthetic_table([(16, 8, 3)], 5, seed=4)),
        "bigger": parquet(tmp_path / "bigger.parquet", synthetic_table([(18, 9, 2)], 5, seed=6)),
        "new_nk": parquet(tmp_path / "new_nk.parquet", synthetic_table([(7, 3, 2)], 5, seed=5)),
        "zero_bytes": tmp_path / "zero.parquet",
    }


def test_training_input_errors_write_nothing(tmp_path, files):
    files["zero_bytes"].write_bytes(b"")
    cases = [
        (["--train", files["no_height"], "--val", files["good"]], "missing column(s): height"),
        (["--train", files["no_P"], "--val", files["good"]], "missing column(s): P"),
        (["--train", files["empty"], "--val", files["good"]], "no rows"),
        (["--train", files["zero_bytes"], "--val", files["good"]], "not a readable"),
        (["--train", files["good"], "--val", tmp_path / "nowhere"], "no such file"),
        (["--data", tmp_path], "not a split folder"),
        (
            [
                "--train",
                files["good"],
                "--val",
                files["good"],
                "--init-experts",
                files["good"],
                "--model",
                "moe-soft",
            ],
            "not an mh-train checkpoint",
        ),
        (
            [
                "--train",
                files["good"],
                "--val",
                files["good"],
                "--model",
                "vit",
                "--dim",
                "16",
                "--heads",
                "3",
            ],
            "invalid vit model config",
        ),
        (
            [
                "--train",
                files["good"],
                "--val",
                files["good"],
                "--model",
                "moe-sparse",
                "--experts",
                "2",
                "--top-k",
                "3",
            ],
            "top_k",
        ),
        (
            ["--train", files["good"], "--val", files["bigger"], "--features", "minors"],
            "--features minors supports k and n-k up to 8",
        ),
    ]
    good = ["--train", files["good"], "--val", files["good"]]
    cases += [  # flags of other families are refused, not ignored
        ([*good, "--model", "resnet", "--widths", "8"],
         "--widths does not apply to --model resnet"),
        ([*good, "--model", "exchange", "--features", "minors", "--dropout", "0.1"],
         "--dropout, --features does not apply to --model exchange"),
        ([*good, "--model", "mlp", "--hidden", "8"], "--hidden does not apply to --model mlp"),
        ([*good, "--model", "moe-soft", "--backbone", "resnet", "--widths", "8"],
         "--widths does not apply to --model moe-soft with --backbone resnet"),
    ]  # fmt: skip
    for args, words in cases:
        out = tmp_path / "run"
        prefix = [] if "--model" in args else TINY_MLP
        one_line_error(invoke(train_main, [*prefix, *args, "--out", out]), words)
        assert not out.exists()


def test_option_errors_are_usage_errors(tmp_path, files):
    out = tmp_path / "run"
    base = ["--train", files["good"], "--val", files["good"]]
    for args in (
        ["--out", out, "--model", "gbm"],
        ["--out", out, "--widths", "3,x"],
        ["--out", out, "--p-scale", "-1"],
        ["--out", out, "--data", tmp_path],
        ["--out", out, "--resume", tmp_path / "elsewhere"],
        [],
    ):
        result = invoke(train_main, base + args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "Error" in result.output
    assert not out.exists()


def test_checkpoint_errors(tmp_path, files, trained_run):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    one_line_error(
        invoke(eval_main, ["--checkpoint", foreign, "--data", files["good"]]),
        "not an mh-train checkpoint",
    )
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    one_line_error(
        invoke(eval_main, ["--checkpoint", junk, "--data", files["good"]]), "mh-train checkpoint"
    )
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((trained_run / "best.pt").read_bytes()[:500])
    one_line_error(
        invoke(eval_main, ["--checkpoint", truncated, "--data", files["good"]]),
        "not a readable mh-train checkpoint",
    )
    data = bytearray((trained_run / "best.pt").read_bytes())
    start = data.find(b"PK", len(data) // 2)  # inside the stored payload, not its zip header
    data[start + 64 : start + 264] = bytes(b ^ 0xFF for b in data[start + 64 : start + 264])
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data))
    result = invoke(eval_main, ["--checkpoint", flipped, "--data", files["good"]])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "checkpoint" in result.output
    out = tmp_path / "run2"
    result = invoke(
        train_main,
        [
            "--train",
            files["good"],
            "--val",
            files["good"],
            "--out",
            out,
            "--model",
            "moe-sparse",
            "--init-experts",
            trained_run / "best.pt",
            "--experts",
            "3",
            "--init-experts",
            trained_run / "best.pt",
        ],
    )
    one_line_error(result, "2 expert checkpoints for 3 experts")
    assert not out.exists()


def test_inputs_outside_the_models_range_are_refused(tmp_path, files, trained_run):
    one_line_error(
        invoke(eval_main, ["--checkpoint", trained_run, "--data", files["big"]]),
        "out of this model's supported range",
    )
    out = tmp_path / "pred.parquet"
    one_line_error(
        invoke(predict_main, ["--checkpoint", trained_run, files["big"], "-o", out]),
        "out of this model's supported range",
    )
    assert not out.exists()
    hard = tmp_path / "hard"
    result = invoke(
        train_main,
        [
            "--train",
            files["good"],
            "--val",
            files["new_nk"],
            "--out",
            hard,
            "--model",
            "moe-hard",
            "--widths",
            "8",
            "--quiet",
        ],
    )
    one_line_error(result, "(n=7, k=3) has no expert")
    assert not hard.exists()


def test_eval_and_predict_refuse_bad_files(tmp_path, files, trained_run):
    files["zero_bytes"].write_bytes(b"")
    out = tmp_path / "pred.parquet"
    for name, words in (
        ("no_P", "missing column(s): P"),
        ("empty", "no rows"),
        ("zero_bytes", "not a readable"),
    ):
        one_line_error(
            invoke(predict_main, ["--checkpoint", trained_run, files[name], "-o", out]), words
        )
        one_line_error(
            invoke(eval_main, ["--checkpoint", trained_run, "--data", files[name]]), words
        )
    one_line_error(
        invoke(eval_main, ["--checkpoint", trained_run, "--data", files["no_height"]]),
        "missing column(s): height",
    )
    assert not out.exists()


def test_nan_in_P_is_refused(tmp_path, trained_run):
    t = synthetic_table([(9, 4, 2)], 3, seed=1)
    P = np.array(t.column("P").to_pylist())
    P[1, 3] = np.nan
    t = t.set_column(3, "P", pa.array(P.tolist(), pa.list_(pa.float64())))
    bad = parquet(tmp_path / "nan.parquet", t)
    one_line_error(
        invoke(predict_main, ["--checkpoint", trained_run, bad, "-o", tmp_path / "o.parquet"]),
        "row 1",
        "NaN",
    )


def test_unwritable_outputs_are_one_line_and_write_nothing(
    tmp_path, files, trained_run, readonly_dir
):
    run = readonly_dir / "run"
    result = invoke(train_main, ["--train", files["good"], "--val", files["good"], "--out", run])
    one_line_error(result, "read-only file system")
    pred = readonly_dir / "pred.parquet"
    result = invoke(predict_main, ["--checkpoint", trained_run, files["good"], "-o", pred])
    one_line_error(result, "read-only file system")
    assert list(readonly_dir.iterdir()) == []
    folder = tmp_path / "a_folder"
    folder.mkdir()
    result = invoke(predict_main, ["--checkpoint", trained_run, files["good"], "-o", folder])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
