"""Mixtures of experts; every expert is a Regressor (trunk + linear head).

- moe-hard: one expert per (n, k), chosen by (n, k) itself;
- moe-sparse: a learned gate keeps the top-k experts per sample (weights renormalised over
  them) and a load-balancing term (Switch Transformer style) keeps all experts in use;
- moe-soft: a softmax gate blends every expert.
Experts can start from trained single-model checkpoints (init_experts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.models.base import HeightModel, Regressor
from training.models.config import ModelConfig
from training.models.trunks import Encoded, MLPTrunk, take


class MixtureModel(HeightModel):
    def __init__(self, config: ModelConfig, count: int) -> None:
        super().__init__(config)
        self.experts = nn.ModuleList(
            Regressor(config.trunk, config.pad, self.baseline, self.extra_dim) for _ in range(count)
        )

    def init_experts(self, states: list[dict[str, torch.Tensor]]) -> None:
        """Load regressor weights into the experts: one state for all, or one per expert."""
        if len(states) not in (1, len(self.experts)):
            raise ValueError(f"{len(states)} expert checkpoints for {len(self.experts)} experts")
        for i, expert in enumerate(self.experts):
            expert.load_state_dict(states[i % len(states)])

    def expert_predictions(self, enc: Encoded) -> torch.Tensor:
        return torch.stack([expert(enc) for expert in self.experts], dim=1).float()


class Gate(nn.Module):
    """Small dense network giving one logit per expert."""

    def __init__(self, pad: int, widths: list[int], experts: int, extra: int = 0) -> None:
        super().__init__()
        self.trunk = MLPTrunk(pad, widths, dropout=0.0, extra=extra)
        self.out = nn.Linear(self.trunk.out_dim, experts)

    def forward(self, enc: Encoded) -> torch.Tensor:
        return self.out(self.trunk(enc)).float()


class HardMoE(MixtureModel):
    conditional_experts = True  # a batch may hold no sample of some (n, k)

    def __init__(self, config: ModelConfig) -> None:
        keys = config.keys
        super().__init__(config, len(keys))
        pad = config.pad
        lut = torch.full((2 * pad + 1, pad + 1), -1, dtype=torch.long)
        for e, (n, k) in enumerate(keys):
            lut[n, k] = e
        self.register_buffer("lut", lut, persistent=False)

    def forward_encoded(self, enc: Encoded) -> torch.Tensor:
        expert_of = self.lut[enc.nkm[:, 0], enc.nkm[:, 1]]
        out = enc.x.new_zeros(len(expert_of))
        for e, expert in enumerate(self.experts):
            index = (expert_of == e).nonzero().squeeze(1)
            if index.numel():
                out = out.index_put((index,), expert(take(enc, index)).to(out.dtype))
        return out


class SparseMoE(MixtureModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config, config.experts)
        self.top_k = config.top_k
        self.aux_weight = config.aux_weight
        self.gate = Gate(config.pad, list(config.gate_widths), config.experts, self.extra_dim)

    def forward_encoded(self, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self.gate(enc).softmax(dim=1)
        top_p, top_i = probs.topk(self.top_k, dim=1)
        weights = torch.zeros_like(probs).scatter(1, top_i, top_p / top_p.sum(1, keepdim=True))
        out = (weights * self.expert_predictions(enc)).sum(1)
        routed = torch.zeros_like(probs).scatter(1, top_i, 1.0).mean(0) / self.top_k
        balance = len(self.experts) * (routed * probs.mean(0)).sum()  # 1 when perfectly even
        return out, balance

    def loss(self, output: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        pred, balance = output
        return F.mse_loss(pred, y) + self.aux_weight * balance

    def log2_pred(self, output: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return output[0]


class SoftMoE(MixtureModel):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config, config.experts)
        self.gate = Gate(config.pad, list(config.gate_widths), config.experts, self.extra_dim)

    def forward_encoded(self, enc: Encoded) -> torch.Tensor:
        weights = self.gate(enc).softmax(dim=1)
        return (weights * self.expert_predictions(enc)).sum(1)
