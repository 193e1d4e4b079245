"""The model input and the trunks: feature extractors Encoded -> (B, out_dim) that
regressors, experts and the classifier put a head on.

The input (Encoded) is computed once per batch and shared by every trunk, expert and gate.

- mlp: dense layers over the flattened padded P, (n, k, m) and any extra features (the
  original's FCN);
- resnet: a 2-D residual CNN over the padded P and its validity mask; (n, k, m) and extra
  features join after pooling over the valid block, through one dense layer;
- vit: patch embedding of P, a transformer encoder, pooled tokens plus (n, k, m) and extra
  features (through one dense layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from training.models.config import TrunkConfig


@dataclass
class Encoded:
    x: torch.Tensor  # (B, pad, pad) P divided by p_scale
    mask: torch.Tensor  # (B, pad, pad) 1.0 on the valid k x (n-k) block: tells padding from zeros
    feats: torch.Tensor  # (B, 3) n, k, m scaled to (0, 1]
    nkm: torch.Tensor  # (B, 3) int64, for routing
    extra: torch.Tensor  # (B, F) extra features (--features minors: minors.py), F = 0 for raw


def encode(
    P: torch.Tensor, nkm: torch.Tensor, p_scale: float, extra: nn.Module | None = None
) -> Encoded:
    """The model input of a batch; extra (e.g. MinorFeatures) maps (P, nkm) to (B, F)."""
    pad = P.shape[-1]
    positions = torch.arange(pad, device=P.device)
    rows = positions < nkm[:, 1:2]
    cols = positions < (nkm[:, 0:1] - nkm[:, 1:2])
    mask = (rows[:, :, None] & cols[:, None, :]).to(P.dtype)
    feats = nkm.to(P.dtype) / (2 * pad)  # n <= 2 * pad for any input that fits the pad
    features = P.new_zeros(len(P), 0) if extra is None else extra(P, nkm).to(P.dtype)
    return Encoded(P / p_scale, mask, feats, nkm, features)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of values (B, T, D) where mask (B, T) is 1."""
    mask = mask.to(values.dtype)[:, :, None]
    return (values * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def take(enc: Encoded, index: torch.Tensor) -> Encoded:
    """The samples at index (for routing a subset of the batch to one expert)."""
    return Encoded(
        enc.x[index], enc.mask[index], enc.feats[index], enc.nkm[index], enc.extra[index]
    )


def build_trunk(trunk: TrunkConfig, pad: int, extra: int = 0) -> nn.Module:
    """A feature extractor Encoded -> (B, out_dim) from its config; extra: Encoded.extra width."""
    if trunk.kind == "mlp":
        return MLPTrunk(pad, list(trunk.widths), trunk.dropout, extra)
    if trunk.kind == "resnet":
        return ResNetTrunk(pad, trunk.channels, trunk.blocks, extra)
    return ViTTrunk(pad, trunk.patch, trunk.dim, trunk.depth, trunk.heads, trunk.dropout, extra)


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


class ViTTrunk(nn.Module):
    def __init__(
        self,
        pad: int,
        patch: int,
        dim: int,
        depth: int,
        heads: int,
        dropout: float,
        extra: int = 0,
    ) -> None:
        super().__init__()
        grid = math.ceil(pad / patch)
        self.patch = patch
        self.extra = grid * patch - pad  # zero-pad the image up to whole patches
        self.embed = nn.Conv2d(2, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=2 * dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.nkm = nn.Sequential(nn.Linear(3 + extra, dim), nn.GELU())
        self.fuse = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())
        self.out_dim = dim

    def forward(self, enc: Encoded) -> torch.Tensor:
        image = F.pad(torch.stack([enc.x, enc.mask], dim=1), (0, self.extra, 0, self.extra))
        tokens = self.embed(image).flatten(2).transpose(1, 2) + self.pos
        # tokens whose patch holds no valid entry are ignored by attention and pooling
        valid = F.max_pool2d(image[:, 1:2], self.patch).flatten(1) > 0
        tokens = self.norm(self.encoder(tokens, src_key_padding_mask=~valid))
        side = self.nkm(torch.cat([enc.feats, enc.extra], dim=1))
        return self.fuse(torch.cat([masked_mean(tokens, valid), side], dim=1))
