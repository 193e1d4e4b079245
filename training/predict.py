"""Predictions from a trained checkpoint: a Python callable with the course evaluator's shape
(predict(n, k, m, P_list) -> heights) and whole-file Parquet prediction for mh-predict."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from training.checkpoint import load_model
from training.data import Rows, rows_from_matrices, rows_from_table, to_tensors
from training.errors import InputError, first_line
from training.inference import predict_log2
from training.models.registry import check_supported
from training.runtime import resolve_device

PRED_COLUMN = "height_pred"


class Predictor:
    """A checkpoint loaded once; predictor(n, k, m, P_list) returns one height per matrix.

    P_list holds k x (n-k) matrices (nested lists or numpy arrays). Heights are finite and
    >= 1. The checkpoint may be a .pt file or a run folder (its best.pt).
    """

    def __init__(
        self, checkpoint: str | Path, device: str = "cpu", batch_size: int | None = None
    ) -> None:
        self.device = resolve_device(device)
        self.model, ckpt = load_model(checkpoint, self.device)
        self.config = ckpt["model_config"]
        self.batch_size = batch_size

    def __call__(self, n: int, k: int, m: int, P_list: Sequence) -> list[float]:
        return self.heights(rows_from_matrices(int(n), int(k), int(m), P_list), "P_list").tolist()

    def heights(self, rows: Rows, source: str) -> np.ndarray:
        """Predicted heights (float64) of validated rows."""
        check_supported(self.config, rows, source)
        data = to_tensors(rows, self.config["pad"], self.device)
        log2 = predict_log2(self.model, data, self.batch_size).cpu().numpy().astype(np.float64)
        return np.exp2(log2)


def load_predictor(checkpoint: str | Path, device: str = "cpu") -> Predictor:
    """The callable predict(n, k, m, P_list) -> list of heights, for a checkpoint."""
    return Predictor(checkpoint, device)


def predict_file(predictor: Predictor, source: Path, target: Path) -> int:
    """Copy a Parquet file with a height_pred column added (replaced if present); rows written."""
    if not source.is_file():
        raise InputError(f"{source}: not a Parquet file")
    try:
        table = pq.read_table(source)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{source}: unreadable Parquet file ({first_line(e)})") from None
    heights = pa.array(predictor.heights(rows_from_table(table, str(source), False), str(source)))
    if PRED_COLUMN in table.column_names:
        table = table.set_column(table.column_names.index(PRED_COLUMN), PRED_COLUMN, heights)
    else:
        table = table.append_column(PRED_COLUMN, heights)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return table.num_rows
