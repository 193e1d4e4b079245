"""What every model family shares: the input encoding, trunks, and the regression head.

A model is rebuilt from its JSON config alone (stored in every checkpoint):
{"family", "pad", "p_scale", "target_mean", "trunk": {"kind", ...}, family extras}.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.models.inputs import Encoded, encode
from training.models.mlp import MLPTrunk
from training.models.resnet import ResNetTrunk
from training.models.vit import ViTTrunk


def build_trunk(trunk: dict[str, Any], pad: int) -> nn.Module:
    """A feature extractor Encoded -> (B, out_dim) from its config."""
    kind = trunk["kind"]
    if kind == "mlp":
        return MLPTrunk(pad, list(trunk["widths"]), trunk["dropout"])
    if kind == "resnet":
        return ResNetTrunk(pad, trunk["channels"], trunk["blocks"])
    if kind == "vit":
        return ViTTrunk(pad, trunk["patch"], trunk["dim"], trunk["depth"], trunk["heads"],
                        trunk["dropout"])
    raise ValueError(f"unknown trunk kind {kind!r}")


class Regressor(nn.Module):
    """Trunk plus a linear head predicting log2 height; also the expert of every MoE."""

    def __init__(self, trunk: dict[str, Any], pad: int, target_mean: float) -> None:
        super().__init__()
        self.trunk = build_trunk(trunk, pad)
        self.head = nn.Linear(self.trunk.out_dim, 1)
        nn.init.constant_(self.head.bias, target_mean)  # start at the mean label, not at 0

    def forward(self, enc: Encoded) -> torch.Tensor:
        return self.head(self.trunk(enc)).squeeze(1)


class HeightModel(nn.Module):
    """forward(P, nkm) -> raw output; loss(output, log2 height); log2_pred(output)."""

    # True where a step may leave some parameters without gradient (DDP must be told).
    conditional_experts = False

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.p_scale = float(config["p_scale"])

    def forward(self, P: torch.Tensor, nkm: torch.Tensor) -> Any:
        return self.forward_encoded(encode(P, nkm, self.p_scale))

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
        self.net = Regressor(config["trunk"], config["pad"], config["target_mean"])

    def forward_encoded(self, enc: Encoded) -> torch.Tensor:
        return self.net(enc)
