"""Vision transformer: patch embedding of P, transformer encoder, pooled tokens plus (n, k, m)
and any extra features (through one dense layer)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from training.models.inputs import Encoded, masked_mean


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
