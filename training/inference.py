"""Batched, gradient-free log2 predictions over a whole in-memory dataset."""

from __future__ import annotations

import torch

from training.data import TensorData
from training.metrics import clamp_log2
from training.models.base import HeightModel

EVAL_BATCH = 8192


@torch.no_grad()
def predict_log2(
    model: HeightModel, data: TensorData, batch_size: int = EVAL_BATCH
) -> torch.Tensor:
    """Clamped log2 predictions (finite, >= 0) for every row, on the data's device.

    Always in fp32, so validation during training and mh-eval report the same numbers.
    """
    was_training = model.training
    model.eval()
    device = data.P.device
    out = []
    for start in range(0, len(data), batch_size):
        end = start + batch_size
        raw = model(data.P[start:end], data.nkm[start:end])
        out.append(clamp_log2(model.log2_pred(raw)))
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, device=device)
