"""Model families: trunks (mlp, resnet, vit) under regression, classification and MoE heads."""

from training.models.base import FEATURES
from training.models.registry import FAMILIES, SINGLE_FAMILIES, TRUNK_KINDS, build_model

__all__ = ["FAMILIES", "FEATURES", "SINGLE_FAMILIES", "TRUNK_KINDS", "build_model"]
