"""Dense trunk over the flattened padded P, (n, k, m) and any extra features (the original's
FCN)."""

from __future__ import annotations

import torch
from torch import nn

from training.models.inputs import Encoded


class MLPTrunk(nn.Module):
    def __init__(self, pad: int, widths: list[int], dropout: float, extra: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = pad * pad + 3 + extra
        for w in widths:
            layers += [nn.Linear(width, w), nn.ReLU(), nn.Dropout(dropout)]
            width = w
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, enc: Encoded) -> torch.Tensor:
        return self.net(torch.cat([enc.x.flatten(1), enc.feats, enc.extra], dim=1))
