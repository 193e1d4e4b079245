"""The course metric: log2-MSE averaged inside each (n, k, m) group, then over groups; and the
group-mean baseline (each group's training mean, what a model gets for free) to compare with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch

from training.models.base import GroupBaseline
from training.models.config import ModelConfig

MAX_LOG2 = 1000.0  # predictions are clamped to [1, 2**1000]: finite and >= 1, as scored


@dataclass(frozen=True)
class GroupScore:
    n: int
    k: int
    m: int
    rows: int
    log2_mse: float
    baseline_log2_mse: float | None = None  # of predicting the group's training mean

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scores:
    """A model's score and table beside the group-mean baseline's (same data, same metric)."""

    log2_mse: float
    baseline_log2_mse: float
    groups: list[GroupScore]


def clamp_log2(pred: torch.Tensor) -> torch.Tensor:
    """Valid log2 predictions: finite and >= 0 (a height >= 1), whatever the model output."""
    pred = torch.nan_to_num(pred.float(), nan=0.0, posinf=MAX_LOG2, neginf=0.0)
    return pred.clamp(0.0, MAX_LOG2)


def group_log2_mse(
    pred_log2: torch.Tensor, true_log2: torch.Tensor, nkm: torch.Tensor
) -> tuple[float, list[GroupScore]]:
    """Overall score (mean of per-group means, each group weighing the same) and the table."""
    groups, inverse = torch.unique(nkm, dim=0, return_inverse=True)
    err = (pred_log2.double() - true_log2.double()) ** 2
    sums = torch.zeros(len(groups), dtype=torch.float64, device=err.device)
    sums.index_add_(0, inverse, err)
    counts = torch.bincount(inverse, minlength=len(groups))
    means = (sums / counts).cpu().tolist()
    keys, counts = groups.cpu().tolist(), counts.cpu().tolist()
    table = [
        GroupScore(int(n), int(k), int(m), int(c), mse)
        for (n, k, m), c, mse in zip(keys, counts, means, strict=True)
    ]
    return float(sum(means) / len(means)), table


def group_mean_log2(nkm: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """The baseline's log2 predictions: each (n, k, m) group's training mean, as the model
    config stores it (group_means), and target_mean for groups absent from it."""
    baseline = GroupBaseline(config.group_means, config.target_mean)
    return clamp_log2(baseline.to(nkm.device)(nkm))


def score_with_baseline(
    pred_log2: torch.Tensor, true_log2: torch.Tensor, nkm: torch.Tensor, config: ModelConfig
) -> Scores:
    """group_log2_mse of the predictions and of the group-mean baseline of a model config."""
    overall, scores = group_log2_mse(pred_log2, true_log2, nkm)
    baseline, base_scores = group_log2_mse(group_mean_log2(nkm, config), true_log2, nkm)
    merged = [
        replace(s, baseline_log2_mse=b.log2_mse) for s, b in zip(scores, base_scores, strict=True)
    ]
    return Scores(overall, baseline, merged)


def format_table(scores: list[GroupScore]) -> str:
    """Markdown table of per-group scores (with the baseline's column when known)."""
    if any(s.baseline_log2_mse is None for s in scores):
        lines = ["| n | k | m | rows | log2-MSE |", "|---:|---:|---:|---:|---:|"]
        lines += [f"| {s.n} | {s.k} | {s.m} | {s.rows} | {s.log2_mse:.4f} |" for s in scores]
        return "\n".join(lines)
    lines = [
        "| n | k | m | rows | log2-MSE | group-mean baseline |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.n} | {s.k} | {s.m} | {s.rows} | {s.log2_mse:.4f} | {s.baseline_log2_mse:.4f} |"
        for s in scores
    ]
    return "\n".join(lines)
