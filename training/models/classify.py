"""The classification reformulation: log2 height binned into B classes, cross entropy.

Bins split [0, log2_max] evenly (log2_max from the training labels; larger labels fall into
the last bin). The prediction is the expected bin centre under the softmax, which is what
minimises the squared log2 error given the predicted distribution.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.models.base import HeightModel, build_trunk
from training.models.inputs import Encoded


class BinnedClassifier(HeightModel):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        bins = int(config["bins"])
        self.width = float(config["log2_max"]) / bins
        self.trunk = build_trunk(config["trunk"], config["pad"], self.extra_dim)
        self.head = nn.Linear(self.trunk.out_dim, bins)
        self.register_buffer("centres", (torch.arange(bins) + 0.5) * self.width, persistent=False)

    def forward_encoded(self, enc: Encoded) -> torch.Tensor:
        return self.head(self.trunk(enc))

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = (y / self.width).floor().clamp(0, len(self.centres) - 1).long()
        return F.cross_entropy(output.float(), target)

    def log2_pred(self, output: torch.Tensor) -> torch.Tensor:
        return output.float().softmax(dim=1) @ self.centres
