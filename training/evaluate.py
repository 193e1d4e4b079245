"""mh-eval's work: score a checkpoint on labelled data with the course metric."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.contract import InputError
from training.checkpoint import load_model, resolve_checkpoint
from training.data import drop_infinite, read_rows, resolve_split, to_tensors
from training.inference import predict_log2
from training.metrics import score_with_baseline
from training.models.registry import check_supported
from training.runtime import resolve_device


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
    config = ckpt["model_config"]
    check_supported(config, rows, str(source))
    tensors = to_tensors(rows, config["pad"], dev)
    scores = score_with_baseline(
        predict_log2(model, tensors, batch_size), tensors.y, tensors.nkm, config
    )
    return {
        "checkpoint": str(resolve_checkpoint(checkpoint)),
        "data": str(source),
        "model": config["family"],
        "log2_mse": scores.log2_mse,
        "baseline_log2_mse": scores.baseline_log2_mse,
        "rows": len(rows),
        "dropped_infinite": dropped,
        "groups": [s.to_dict() for s in scores.groups],
    }
