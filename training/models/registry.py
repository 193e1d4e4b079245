"""Family name -> model class: building a model from its config, and the inputs it can take."""

from __future__ import annotations

import numpy as np

from pipeline.contract import InputError
from training.data import Rows, check_fits
from training.models.base import BinnedClassifier, HeightModel, SingleModel
from training.models.config import FAMILIES, ModelConfig
from training.models.exchange import MAX_SET_BASES, ExchangeModel, set_base_count
from training.models.moe import HardMoE, SoftMoE, SparseMoE

_CLASSES: dict[str, type[HeightModel]] = {
    "mlp": SingleModel,
    "resnet": SingleModel,
    "vit": SingleModel,
    "moe-hard": HardMoE,
    "moe-sparse": SparseMoE,
    "moe-soft": SoftMoE,
    "classify": BinnedClassifier,
    "exchange": ExchangeModel,
}
assert tuple(_CLASSES) == FAMILIES


def build_model(config: ModelConfig) -> HeightModel:
    """Instantiate a model from its config (ModelConfig checked it can be built)."""
    return _CLASSES[config.family](config)


def check_supported(config: ModelConfig, rows: Rows, source: str) -> None:
    """Refuse inputs the model cannot score: blocks larger than its pad, unseen (n, k) experts."""
    check_fits(rows, config.pad, source)
    if config.family == "exchange":
        for n, k, m in np.unique(rows.nkm, axis=0).tolist():
            if set_base_count(n, k, m) > MAX_SET_BASES:
                raise InputError(
                    f"{source}: (n={n}, k={k}, m={m}) has {set_base_count(n, k, m):,} "
                    f"(a, Y, B) memberships; exchange takes at most {MAX_SET_BASES:,}"
                )
    if config.family == "moe-hard":
        known = set(config.keys)
        pairs = {tuple(p) for p in np.unique(rows.nkm[:, :2], axis=0).tolist()}
        unknown = sorted(pairs - known)
        if unknown:
            n, k = unknown[0]
            raise InputError(
                f"{source}: (n={n}, k={k}) has no expert in this moe-hard model "
                f"(it knows {', '.join(f'({a},{b})' for a, b in sorted(known))})"
            )
