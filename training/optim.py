"""Optimiser and learning-rate schedule from the settings."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from training.settings import TrainSettings

PLATEAU_PATIENCE = 3  # epochs without validation improvement before the lr is halved
PLATEAU_FACTOR = 0.5

Scheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau


def build_optimizer(
    s: TrainSettings, params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    params = list(params)
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[s.optimizer]
    fused = all(p.is_cuda for p in params)  # one kernel per step instead of one per tensor
    return kind(params, lr=s.lr, weight_decay=s.weight_decay, fused=fused or None)


def build_scheduler(s: TrainSettings, optimizer: torch.optim.Optimizer) -> Scheduler | None:
    """Per-epoch schedule: cosine from lr towards 0 over --epochs, plateau halving, or none."""
    if s.schedule == "cosine":
        epochs = max(s.epochs, 1)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, epochs) / epochs))
        )
    if s.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
        )
    return None


def step_scheduler(scheduler: Scheduler | None, val_metric: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_metric)
    elif scheduler is not None:
        scheduler.step()
