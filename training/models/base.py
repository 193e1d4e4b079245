"""What every model family shares: the group-mean baseline, the regression head, the model
interface, and the families with one trunk (mlp, resnet, vit as regressors; classify).

A model is rebuilt from its ModelConfig alone (config.py; stored in every checkpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.models.config import ModelConfig, TrunkConfig
from training.models.minors import MinorFeatures
from training.models.trunks import Encoded, build_trunk, encode


class GroupBaseline(nn.Module):
    """Mean training log2 height of each (n, k, m); regressors learn the residual from it.

    The group means differ by up to ~10 in log2 across the course grid, far more than the
    spread inside a group, so starting every group at its own mean spares the network
    learning the offsets from (n, k, m) features first. Unseen groups get the overall mean.
    """

    def __init__(self, group_means: Sequence[Sequence[float]], fallback: float) -> None:
        super().__init__()
        table = sorted((group_code(int(n), int(k), int(m)), float(v)) for n, k, m, v in group_means)
        self.fallback = float(fallback)
        codes = torch.tensor([c for c, _ in table], dtype=torch.long)
        self.register_buffer("codes", codes, persistent=False)
        self.register_buffer("means", torch.tensor([v for _, v in table]), persistent=False)

    def forward(self, nkm: torch.Tensor) -> torch.Tensor:
        if not len(self.codes):
            return torch.full((len(nkm),), self.fallback, device=nkm.device)
        code = group_code(nkm[:, 0], nkm[:, 1], nkm[:, 2])
        index = torch.searchsorted(self.codes, code).clamp(max=len(self.codes) - 1)
        fallback = torch.full_like(self.means[index], self.fallback)
        return torch.where(self.codes[index] == code, self.means[index], fallback)


def group_code(n: Any, k: Any, m: Any) -> Any:
    """One sortable integer per (n, k, m), for ints and int tensors alike."""
    return (n * 1000 + k) * 1000 + m


class Regressor(nn.Module):
    """Trunk plus a linear head predicting log2 height (as a residual over the group mean);
    also the expert of every MoE."""

    def __init__(
        self, trunk: TrunkConfig, pad: int, baseline: GroupBaseline, extra: int = 0
    ) -> None:
        super().__init__()
        self.trunk = build_trunk(trunk, pad, extra)
        self.head = nn.Linear(self.trunk.out_dim, 1)
        nn.init.zeros_(self.head.bias)
        self.baseline = baseline

    def forward(self, enc: Encoded) -> torch.Tensor:
        return self.head(self.trunk(enc)).squeeze(1).float() + self.baseline(enc.nkm)


class HeightModel(nn.Module):
    """forward(P, nkm) -> raw output; loss(output, log2 height); log2_pred(output)."""

    # True where a step may leave some parameters without gradient (DDP must be told).
    conditional_experts = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.p_scale = float(config.p_scale)
        self.baseline = GroupBaseline(config.group_means, config.target_mean)
        # computed inside forward, so augmentation, devices and every entry point get them
        self.extra_features = (
            MinorFeatures(config.pad, config.p_scale) if config.features == "minors" else None
        )
        self.extra_dim = 0 if self.extra_features is None else self.extra_features.dim

    def forward(self, P: torch.Tensor, nkm: torch.Tensor) -> Any:
        return self.forward_encoded(self.encode(P, nkm))

    def encode(self, P: torch.Tensor, nkm: torch.Tensor) -> Encoded:
        return encode(P, nkm, self.p_scale, self.extra_features)

    def forward_encoded(self, enc: Encoded) -> Any:
        raise NotImplementedError

    def loss(self, output: Any, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.log2_pred(output), y)

    def log2_pred(self, output: Any) -> torch.Tensor:
        return output.float()


class SingleModel(HeightModel):
    """The plain families mlp, resnet and vit: one regressor."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.net = Regressor(config.trunk, config.pad, self.baseline, self.extra_dim)

    def forward_encoded(self, enc: Encoded) -> torch.Tensor:
        return self.net(enc)


class BinnedClassifier(HeightModel):
    """classify: log2 height binned into B classes, cross entropy.

    Bins split [0, log2_max] evenly (log2_max from the training labels; larger labels fall
    into the last bin). The prediction is the expected bin centre under the softmax, which is
    what minimises the squared log2 error given the predicted distribution.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.width = float(config.log2_max) / config.bins
        self.trunk = build_trunk(config.trunk, config.pad, self.extra_dim)
        self.head = nn.Linear(self.trunk.out_dim, config.bins)
        centres = (torch.arange(config.bins) + 0.5) * self.width
        self.register_buffer("centres", centres, persistent=False)

    def forward_encoded(self, enc: Encoded) -> torch.Tensor:
        return self.head(self.trunk(enc))

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = (y / self.width).floor().clamp(0, len(self.centres) - 1).long()
        return F.cross_entropy(output.float(), target)

    def log2_pred(self, output: torch.Tensor) -> torch.Tensor:
        return output.float().softmax(dim=1) @ self.centres
