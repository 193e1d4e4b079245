"""Family name -> model class; model configs from training settings; input compatibility."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.contract import InputError
from training.data import Rows, check_fits
from training.models.base import FEATURES, HeightModel, SingleModel
from training.models.classify import BinnedClassifier
from training.models.exchange import MAX_SET_BASES, ExchangeModel, set_base_count
from training.models.minors import MAX_PAD as MAX_MINOR_PAD
from training.models.moe import HardMoE, SoftMoE, SparseMoE
from training.settings import TrainSettings

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
FAMILIES = tuple(_CLASSES)
SINGLE_FAMILIES = ("mlp", "resnet", "vit")
TRUNK_KINDS = SINGLE_FAMILIES
MOE_FAMILIES = ("moe-hard", "moe-sparse", "moe-soft")
DEFAULT_DROPOUT = {"mlp": 0.3, "vit": 0.1}  # used when --dropout is not given


@dataclass(frozen=True)
class DataSummary:
    """What a model config needs to know about the training data."""

    pad: int
    target_mean: float  # mean log2 label, the baseline of groups not seen in training
    group_means: list[list[float]]  # [n, k, m, mean log2 label] per training group
    log2_max: float  # upper end of the classification bins
    keys: list[tuple[int, int]]  # (n, k) present, one hard-MoE expert each


def trunk_config(kind: str, s: TrainSettings) -> dict[str, Any]:
    dropout = DEFAULT_DROPOUT.get(kind, 0.0) if s.dropout is None else s.dropout
    if kind == "mlp":
        return {"kind": kind, "widths": list(s.widths), "dropout": dropout}
    if kind == "resnet":
        return {"kind": kind, "channels": s.channels, "blocks": s.blocks}
    if kind == "vit":
        return {
            "kind": kind,
            "patch": s.patch,
            "dim": s.dim,
            "depth": s.depth,
            "heads": s.heads,
            "dropout": dropout,
        }
    raise InputError(f"unknown backbone {kind!r} (choose from {', '.join(TRUNK_KINDS)})")


def make_model_config(
    s: TrainSettings,
    data: DataSummary,
    p_scale: float,
    trunk: dict[str, Any] | None = None,
    features: str | None = None,
) -> dict[str, Any]:
    """The JSON config a model is rebuilt from; trunk and features override the settings'
    (expert init)."""
    family = s.model
    if family not in _CLASSES:
        raise InputError(f"unknown model {family!r} (choose from {', '.join(FAMILIES)})")
    if family == "exchange":  # works on the minors itself: no trunk, no extra features
        if data.pad > MAX_MINOR_PAD:
            raise InputError(f"exchange supports k and n-k up to {MAX_MINOR_PAD}")
        return {
            "family": family,
            "pad": data.pad,
            "p_scale": p_scale,
            "features": "raw",
            "target_mean": data.target_mean,
            "group_means": data.group_means,
            "hidden": s.hidden,
            "tokens": s.tokens,
        }
    features = features or s.features
    if features not in FEATURES:
        raise InputError(f"unknown features {features!r} (choose from {', '.join(FEATURES)})")
    if features == "minors" and data.pad > MAX_MINOR_PAD:
        raise InputError(
            f"--features minors supports k and n-k up to {MAX_MINOR_PAD} "
            f"(this data needs a pad of {data.pad})"
        )
    kind = family if family in SINGLE_FAMILIES else s.backbone
    config: dict[str, Any] = {
        "family": family,
        "pad": data.pad,
        "p_scale": p_scale,
        "features": features,
        "target_mean": data.target_mean,
        "group_means": data.group_means,
        "trunk": trunk or trunk_config(kind, s),
    }
    if family == "classify":
        config.update(bins=s.bins, log2_max=data.log2_max)
    elif family == "moe-hard":
        config["keys"] = [list(key) for key in data.keys]
    elif family in ("moe-sparse", "moe-soft"):
        config.update(experts=s.experts, gate_widths=list(s.gate_widths))
        if family == "moe-sparse":
            config.update(top_k=s.top_k, aux_weight=s.aux_weight)
    return config


def build_model(config: dict[str, Any]) -> HeightModel:
    """Instantiate a model from its config (as stored in checkpoints)."""
    family = config.get("family") if isinstance(config, dict) else None
    if family not in _CLASSES:
        raise InputError(f"unknown model family {family!r}")
    try:
        return _CLASSES[family](config)
    except (KeyError, TypeError, ValueError, AssertionError) as e:  # torch asserts some shapes
        raise InputError(f"invalid {family} model config: {e}") from e


def check_supported(config: dict[str, Any], rows: Rows, source: str) -> None:
    """Refuse inputs the model cannot score: blocks larger than its pad, unseen (n, k) experts."""
    check_fits(rows, config["pad"], source)
    if config["family"] == "exchange":
        for n, k, m in np.unique(rows.nkm, axis=0).tolist():
            if set_base_count(n, k, m) > MAX_SET_BASES:
                raise InputError(
                    f"{source}: (n={n}, k={k}, m={m}) has {set_base_count(n, k, m):,} "
                    f"(a, Y, B) memberships; exchange takes at most {MAX_SET_BASES:,}"
                )
    if config["family"] == "moe-hard":
        known = {tuple(key) for key in config["keys"]}
        pairs = {tuple(p) for p in np.unique(rows.nkm[:, :2], axis=0).tolist()}
        unknown = sorted(pairs - known)
        if unknown:
            n, k = unknown[0]
            raise InputError(
                f"{source}: (n={n}, k={k}) has no expert in this moe-hard model "
                f"(it knows {', '.join(f'({a},{b})' for a, b in sorted(known))})"
            )
