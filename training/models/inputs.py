"""The model input, computed once per batch and shared by every trunk, expert and gate."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


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
