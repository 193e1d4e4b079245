"""Model families: trunks (mlp, resnet, vit) under regression, classification and MoE heads,
and exchange; each rebuilt from its typed ModelConfig."""

from training.models.config import (
    FAMILIES,
    FEATURES,
    SINGLE_FAMILIES,
    TRUNK_KINDS,
    DataSummary,
    ModelConfig,
    make_model_config,
)
from training.models.registry import build_model, check_supported

__all__ = [
    "FAMILIES",
    "FEATURES",
    "SINGLE_FAMILIES",
    "TRUNK_KINDS",
    "DataSummary",
    "ModelConfig",
    "build_model",
    "check_supported",
    "make_model_config",
]
