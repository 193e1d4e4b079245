"""2-D residual CNN over the padded P (plus its validity mask); (n, k, m) and any extra
features join after pooling, through one dense layer."""

from __future__ import annotations

import torch
from torch import nn

from training.models.inputs import Encoded, masked_mean


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ResNetTrunk(nn.Module):
    def __init__(self, pad: int, channels: int, blocks: int, extra: int = 0) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(2, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.nkm = nn.Sequential(nn.Linear(3 + extra, channels), nn.ReLU())
        self.fuse = nn.Sequential(nn.Linear(3 * channels, channels), nn.ReLU())
        self.out_dim = channels

    def forward(self, enc: Encoded) -> torch.Tensor:
        h = self.blocks(self.stem(torch.stack([enc.x, enc.mask], dim=1)))
        h = h.flatten(2).transpose(1, 2)  # (B, cells, channels)
        valid = enc.mask.flatten(1)
        # pool over the valid block only, so padding size does not change the features
        mean = masked_mean(h, valid)
        peak = h.masked_fill(valid[:, :, None] == 0, float("-inf")).amax(1)
        side = self.nkm(torch.cat([enc.feats, enc.extra], dim=1))
        return self.fuse(torch.cat([mean, peak, side], dim=1))
