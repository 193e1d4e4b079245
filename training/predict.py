"""What a trained checkpoint is used for: scores on labelled data (mh-eval, the course
metric), a Python callable with the course evaluator's shape (predict(n, k, m, P_list) ->
heights) and whole-file Parquet prediction (mh-predict)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.contract import InputError, first_line, parquet_files, read_file, write_atomic
from training.checkpoint import load_model, resolve_checkpoint
from training.data import (
    Rows,
    drop_infinite,
    read_rows,
    resolve_split,
    rows_from_matrices,
    rows_from_table,
    to_tensors,
)
from training.inference import predict_log2
from training.metrics import score_with_baseline
from training.models import check_supported
from training.models.base import HeightModel
from training.runtime import resolve_device

PRED_COLUMN = "height_pred"


def evaluate_checkpoint(
    checkpoint: Path, data: Path, split: str, device: str, batch_size: int | None
) -> dict[str, Any]:
    """Overall log2-MSE (mean of per-group means) and the per-(n, k, m) table, as a dict;
    both also for the group-mean baseline of the checkpoint's training data."""
    dev = resolve_device(device)
    model, ckpt = load_model(checkpoint, dev)
    source = resolve_split(data, split)
    rows, dropped = drop_infinite(read_rows([source], need_height=True))
    if len(rows) == 0:
        raise InputError(f"{source}: no rows with a finite height")
    config = ckpt.model_config
    check_supported(config, rows, str(source))
    tensors = to_tensors(rows, config.pad, dev)
    scores = score_with_baseline(
        predict_log2(model, tensors, batch_size), tensors.y, tensors.nkm, config
    )
    return {
        "checkpoint": str(resolve_checkpoint(checkpoint)),
        "data": str(source),
        "model": config.family,
        "log2_mse": scores.log2_mse,
        "baseline_log2_mse": scores.baseline_log2_mse,
        "rows": len(rows),
        "dropped_infinite": dropped,
        "groups": [s.to_dict() for s in scores.groups],
    }


class Predictor:
    """A checkpoint loaded once; predictor(n, k, m, P_list) returns one height per matrix.

    P_list holds k x (n-k) matrices (nested lists or numpy arrays). Heights are finite and
    >= 1. The checkpoint may be a .pt file, a run folder (its best.pt) or a model in memory.
    """

    def __init__(
        self,
        checkpoint: str | Path | HeightModel,
        device: str = "cpu",
        batch_size: int | None = None,
    ) -> None:
        self.device = resolve_device(device)
        if isinstance(checkpoint, HeightModel):
            self.model = checkpoint.to(self.device).eval()
        else:
            self.model, _ = load_model(checkpoint, self.device)
        self.config = self.model.config
        self.batch_size = batch_size

    def __call__(self, n: int, k: int, m: int, P_list: Sequence) -> list[float]:
        return self.heights(rows_from_matrices(int(n), int(k), int(m), P_list), "P_list").tolist()

    def heights(self, rows: Rows, source: str) -> np.ndarray:
        """Predicted heights (float64) of validated rows."""
        check_supported(self.config, rows, source)
        data = to_tensors(rows, self.config.pad, self.device)
        log2 = predict_log2(self.model, data, self.batch_size).cpu().numpy().astype(np.float64)
        return np.exp2(log2)


def load_predictor(checkpoint: str | Path, device: str = "cpu") -> Predictor:
    """The callable predict(n, k, m, P_list) -> list of heights, for a checkpoint."""
    return Predictor(checkpoint, device)


def predict_file(predictor: Predictor, source: Path, target: Path) -> int:
    """Write target: every row of source (a Parquet file, or every Parquet file below a folder,
    in mh-eval's order) with a height_pred column added (replaced if present); rows written.

    Files with different extra columns are concatenated with nulls where a column is missing.
    """
    tables = [read_file(path) for path in parquet_files([source])]
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except pa.ArrowException as e:
        raise InputError(
            f"{source}: its files have conflicting columns ({first_line(e)})"
        ) from None
    heights = pa.array(predictor.heights(rows_from_table(table, str(source), False), str(source)))
    if PRED_COLUMN in table.column_names:
        table = table.set_column(table.column_names.index(PRED_COLUMN), PRED_COLUMN, heights)
    else:
        table = table.append_column(PRED_COLUMN, heights)
    write_atomic(table, target)
    return table.num_rows
