"""What every model family shares: the input encoding, trunks, and the regression head.

A model is rebuilt from its JSON config alone (stored in every checkpoint):
{"family", "pad", "p_scale", "features", "target_mean", "group_means", "trunk": {"kind", ...},
extras}; configs without "features" (older checkpoints) mean "raw".
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.models.inputs import Encoded, encode
from training.models.minors import MinorFeatures
from training.models.mlp import MLPTrunk
from training.models.resnet import ResNetTrunk
from training.models.vit import ViTTrunk

FEATURES = ("raw", "minors")  # inputs besides P and (n, k, m): none, or minors.py's


def build_trunk(trunk: dict[str, Any], pad: int, extra: int = 0) -> nn.Module:
    """A feature extractor Encoded -> (B, out_dim) from its config; extra: Encoded.extra width."""
    kind = trunk["kind"]
    if kind == "mlp":
        return MLPTrunk(pad, list(trunk["widths"]), trunk["dropout"], extra)
    if kind == "resnet":
        return ResNetTrunk(pad, trunk["channels"], trunk["blocks"], extra)
    if kind == "vit":
        return ViTTrunk(
            pad,
            trunk["patch"],
            trunk["dim"],
            trunk["depth"],
            trunk["heads"],
            trunk["dropout"],
            extra,
        )
    raise ValueError(f"unknown trunk kind {kind!r}")


def extra_features(config: dict[str, Any]) -> MinorFeatures | None:
    """The module computing Encoded.extra for a model config (None for raw inputs)."""
    features = config.get("features", "raw")
    if features == "raw":
        return None
    if features == "minors":
        return MinorFeatures(config["pad"], config["p_scale"])
    raise ValueError(f"unknown features {features!r} (choose from {', '.join(FEATURES)})")


class GroupBaseline(nn.Module):
    """Mean training log2 height of each (n, k, m); regressors learn the residual from it.

    The group means differ by up to ~10 in log2 across the course grid, far more than the
    spread inside a group, so starting every group at its own mean spares the network
    learning the offsets from (n, k, m) features first. Unseen groups get the overall mean.
    """

    def __init__(self, group_means: list[list[float]], fallback: float) -> None:
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
        self, trunk: dict[str, Any], pad: int, baseline: GroupBaseline, extra: int = 0
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

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.p_scale = float(config["p_scale"])
        self.baseline = GroupBaseline(config.get("group_means", []), config["target_mean"])
        # computed inside forward, so augmentation, devices and every entry point get them
        self.extra_features = extra_features(config)
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

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.net = Regressor(config["trunk"], config["pad"], self.baseline, self.extra_dim)

    def forward_encoded(self, enc: Encoded) -> torch.Tensor:
        return self.net(enc)
