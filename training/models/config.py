"""The model config: everything a model is rebuilt from, typed, and the JSON stored for it.

A checkpoint stores ``ModelConfig.to_json()`` (the dict every earlier version stored too), and
:meth:`ModelConfig.from_json` reads it back, filling what older checkpoints lack ("features":
raw, "group_means": none) and refusing a broken one with one line. Configs of new runs come
from the training settings and the data (:func:`make_model_config`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pipeline.contract import InputError
from training.models.minors import MAX_PAD as MAX_MINOR_PAD
from training.settings import TrainSettings

FAMILIES = ("mlp", "resnet", "vit", "moe-hard", "moe-sparse", "moe-soft", "classify", "exchange")
SINGLE_FAMILIES = ("mlp", "resnet", "vit")
TRUNK_KINDS = SINGLE_FAMILIES
MOE_FAMILIES = ("moe-hard", "moe-sparse", "moe-soft")
FEATURES = ("raw", "minors")  # inputs besides P and (n, k, m): none, or minors.py's
DEFAULT_DROPOUT = {"mlp": 0.3, "vit": 0.1}  # used when --dropout is not given
# Fields each family needs beyond the common ones (None elsewhere, and left out of the JSON).
_FAMILY_FIELDS = {
    "mlp": ("trunk",),
    "resnet": ("trunk",),
    "vit": ("trunk",),
    "moe-hard": ("trunk", "keys"),
    "moe-sparse": ("trunk", "experts", "gate_widths", "top_k", "aux_weight"),
    "moe-soft": ("trunk", "experts", "gate_widths"),
    "classify": ("trunk", "bins", "log2_max"),
    "exchange": ("hidden", "tokens", "head_hidden", "pool_channels", "pool_temperature"),
}
# exchange configs from before --head-hidden and --pool-channels: the head was as wide as the
# pair and set functions, and these many channels were pooled (neighbours, bases)
LEGACY_POOL_CHANNELS = (8, 4)
LEGACY_POOL_TEMPERATURE = 1.05  # and every pooling started at this temperature
_TRUNK_FIELDS = {
    "mlp": ("widths", "dropout"),
    "resnet": ("channels", "blocks"),
    "vit": ("patch", "dim", "depth", "heads", "dropout"),
}


@dataclass(frozen=True)
class TrunkConfig:
    """A trunk (mlp, resnet or vit): the fields of its kind are set, the others None."""

    kind: str
    widths: tuple[int, ...] | None = None
    channels: int | None = None
    blocks: int | None = None
    patch: int | None = None
    dim: int | None = None
    depth: int | None = None
    heads: int | None = None
    dropout: float | None = None

    def to_json(self) -> dict[str, Any]:
        return _json(self)

    @classmethod
    def from_json(cls, values: Any, family: str) -> TrunkConfig:
        kind = values.get("kind") if isinstance(values, dict) else None
        if kind not in _TRUNK_FIELDS:
            raise InputError(f"invalid {family} model config: unknown trunk kind {kind!r}")
        return _typed(cls, values, ("kind", *_TRUNK_FIELDS[kind]), family)

    @classmethod
    def from_settings(cls, kind: str, s: TrainSettings) -> TrunkConfig:
        if kind not in _TRUNK_FIELDS:
            raise InputError(f"unknown backbone {kind!r} (choose from {', '.join(TRUNK_KINDS)})")
        dropout = DEFAULT_DROPOUT.get(kind, 0.0) if s.dropout is None else s.dropout
        given = {**dataclasses.asdict(s), "dropout": dropout}
        return cls(kind, **{name: given[name] for name in _TRUNK_FIELDS[kind]})


@dataclass(frozen=True)
class ModelConfig:
    """One model's architecture and its data-derived constants (pad, P scale, group means)."""

    family: str
    pad: int
    p_scale: float
    features: str  # FEATURES; "raw" in configs older than the option
    target_mean: float  # mean log2 label, the baseline of groups not seen in training
    group_means: tuple[tuple[int, int, int, float], ...] = ()  # (n, k, m, mean log2 label)
    trunk: TrunkConfig | None = None
    keys: tuple[tuple[int, int], ...] | None = None  # moe-hard: the (n, k) of each expert
    experts: int | None = None
    gate_widths: tuple[int, ...] | None = None
    top_k: int | None = None
    aux_weight: float | None = None
    bins: int | None = None  # classify: classes over [0, log2_max]
    log2_max: float | None = None
    hidden: int | None = None  # exchange: hidden width of its pair and set functions (0: linear)
    tokens: int | None = None  # exchange: width of its set tokens
    head_hidden: int | None = None  # exchange: hidden width of its head
    pool_channels: tuple[int, int] | None = None  # exchange: channels pooled (neighbours, bases)
    pool_temperature: float | None = None  # exchange: temperature of its poolings at the start

    def __post_init__(self) -> None:
        """Refuse combinations no model can be built from (one line naming the field)."""
        bad = f"invalid {self.family} model config"
        if self.features not in FEATURES:
            raise InputError(f"{bad}: unknown features {self.features!r}")
        t = self.trunk
        if t is not None and t.kind == "vit" and t.heads and t.dim % t.heads:
            raise InputError(f"{bad}: dim {t.dim} is not a multiple of heads {t.heads}")
        if self.top_k is not None and not 1 <= self.top_k <= self.experts:
            raise InputError(f"{bad}: top_k must be between 1 and experts ({self.experts})")

    def to_json(self) -> dict[str, Any]:
        """The dict checkpoints and config.json store (fields of other families left out)."""
        return _json(self)

    @classmethod
    def from_json(cls, values: Any) -> ModelConfig:
        """A stored config, as every version of mh-train wrote it; InputError when broken."""
        family = values.get("family") if isinstance(values, dict) else None
        if family not in FAMILIES:
            raise InputError(f"unknown model family {family!r}")
        values = {"features": "raw", "group_means": [], **values}
        if family == "exchange":
            legacy = {
                "head_hidden": values.get("hidden"),
                "pool_channels": LEGACY_POOL_CHANNELS,
                "pool_temperature": LEGACY_POOL_TEMPERATURE,
            }
            values = {**legacy, **values}
        names = ("family", "pad", "p_scale", "features", "target_mean", "group_means")
        if "trunk" in _FAMILY_FIELDS[family] and "trunk" in values:
            values["trunk"] = TrunkConfig.from_json(values["trunk"], family)
        return _typed(cls, values, names + _FAMILY_FIELDS[family], family)


def _json(config: Any) -> dict[str, Any]:
    """Set fields as JSON values (tuples as lists, nested configs as dicts), in field order."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value.to_json() if hasattr(value, "to_json") else value

    return {
        f.name: plain(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if getattr(config, f.name) is not None
    }


def _typed(cls: type, values: dict, names: tuple[str, ...], family: str) -> Any:
    """cls from the named entries of a JSON dict, lists made tuples; InputError when one is
    missing or the wrong kind of value."""
    missing = [name for name in names if name not in values]
    if missing:
        raise InputError(f"invalid {family} model config: missing {', '.join(missing)}")

    def frozen(value: Any) -> Any:
        return tuple(frozen(v) for v in value) if isinstance(value, list) else value

    try:
        return cls(**{name: frozen(values[name]) for name in names})
    except TypeError as e:  # e.g. a string where a number belongs, in __post_init__
        raise InputError(f"invalid {family} model config: {e}") from None


def make_model_config(
    s: TrainSettings,
    data: DataSummary,
    p_scale: float,
    trunk: TrunkConfig | None = None,
    features: str | None = None,
) -> ModelConfig:
    """The config of a new run's model; trunk and features override the settings' (expert
    init)."""
    family = s.model
    if family not in FAMILIES:
        raise InputError(f"unknown model {family!r} (choose from {', '.join(FAMILIES)})")
    common = dict(
        family=family,
        pad=data.pad,
        p_scale=p_scale,
        target_mean=data.target_mean,
        group_means=tuple(tuple(g) for g in data.group_means),
    )
    if family == "exchange":  # works on the minors itself: no trunk, no extra features
        if data.pad > MAX_MINOR_PAD:
            raise InputError(f"exchange supports k and n-k up to {MAX_MINOR_PAD}")
        return ModelConfig(
            **common,
            features="raw",
            hidden=s.hidden,
            tokens=s.tokens,
            head_hidden=s.head_hidden,
            pool_channels=tuple(s.pool_channels),
            pool_temperature=s.pool_temperature,
        )
    features = features or s.features
    if features not in FEATURES:
        raise InputError(f"unknown features {features!r} (choose from {', '.join(FEATURES)})")
    if features == "minors" and data.pad > MAX_MINOR_PAD:
        raise InputError(
            f"--features minors supports k and n-k up to {MAX_MINOR_PAD} "
            f"(this data needs a pad of {data.pad})"
        )
    kind = family if family in SINGLE_FAMILIES else s.backbone
    extras: dict[str, Any] = {}
    if family == "classify":
        extras = dict(bins=s.bins, log2_max=data.log2_max)
    elif family == "moe-hard":
        extras = dict(keys=tuple(tuple(key) for key in data.keys))
    elif family in ("moe-sparse", "moe-soft"):
        extras = dict(experts=s.experts, gate_widths=tuple(s.gate_widths))
        if family == "moe-sparse":
            extras.update(top_k=s.top_k, aux_weight=s.aux_weight)
    return ModelConfig(
        **common,
        features=features,
        trunk=trunk or TrunkConfig.from_settings(kind, s),
        **extras,
    )


@dataclass(frozen=True)
class DataSummary:
    """What a model config needs to know about the training data."""

    pad: int
    target_mean: float  # mean log2 label, the baseline of groups not seen in training
    group_means: list[list[float]]  # [n, k, m, mean log2 label] per training group
    log2_max: float  # upper end of the classification bins
    keys: list[tuple[int, int]]  # (n, k) present, one hard-MoE expert each
