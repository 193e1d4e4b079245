"""Every training option in one JSON-able record: what config.json stores and --resume restores."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pipeline.contract import InputError

# exchange's most accurate measured recipe (README, "Results"): mh-train ... --model exchange
# plus these settings
WIDE_EXCHANGE = {"pool_channels": (8, 4), "hidden": 32, "tokens": 16, "pool_temperature": 1.05}

# Options that may differ when a run is resumed: they change how, not what, is trained.
RESUMABLE_OVERRIDES = frozenset({"device", "precision", "compile", "epochs", "patience"})


@dataclass(frozen=True)
class TrainSettings:
    """Settings of one training run (CLI defaults are taken from here)."""

    # Defaults: the best recipe measured for a CPU budget (README, "Results"): exchange with
    # linear pair and set functions, 2 channels per pooling, 4 set tokens and sharp poolings
    # from the start (over 20,000 predictions/s on 2 CPU cores), P scaled to unit RMS, 2 epochs
    # of cosine decay from lr 3e-3 in batches of 512 (8 minutes on one CPU core for the course
    # grid's 800k training rows). WIDE_EXCHANGE is the most accurate recipe (5x slower).
    model: str = "exchange"
    widths: tuple[int, ...] = (512, 256, 128)
    dropout: float | None = None
    channels: int = 32
    blocks: int = 3
    patch: int = 2
    dim: int = 64
    depth: int = 3
    heads: int = 4
    backbone: str = "mlp"
    experts: int = 4
    top_k: int = 2
    aux_weight: float = 0.01
    gate_widths: tuple[int, ...] = (64,)
    init_experts: tuple[str, ...] = ()
    bins: int = 64
    hidden: int = 0
    head_hidden: int = 32
    tokens: int = 4
    pool_channels: tuple[int, ...] = (2, 2)
    pool_temperature: float = 0.1
    p_scale: str = "auto"
    features: str = "raw"
    augment: bool = False
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    epochs: int = 2
    batch_size: int = 512
    patience: int = 10
    clip_grad: float = 1.0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    train: tuple[str, ...] = field(default_factory=tuple)
    val: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown settings in config.json: {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def replace(self, **changes: Any) -> TrainSettings:
        return dataclasses.replace(self, **changes)


# Options every family takes; the others belong to the families (or backbones) named here.
COMMON_OPTIONS = frozenset(
    {"model", "p_scale", "augment", "optimizer", "lr", "weight_decay", "schedule", "epochs",
     "batch_size", "patience", "clip_grad", "seed", "device", "precision", "compile", "train",
     "val"}
)  # fmt: skip
_TRUNK_OPTIONS = {
    "mlp": {"widths", "dropout"},
    "resnet": {"channels", "blocks"},
    "vit": {"patch", "dim", "depth", "heads", "dropout"},
}
_FAMILY_OPTIONS = {
    "moe-hard": {"backbone", "features", "init_experts"},
    "moe-sparse": {"backbone", "features", "init_experts", "experts", "gate_widths", "top_k",
                   "aux_weight"},
    "moe-soft": {"backbone", "features", "init_experts", "experts", "gate_widths"},
    "classify": {"backbone", "features", "bins"},
    "exchange": {"hidden", "head_hidden", "tokens", "pool_channels", "pool_temperature"},
}  # fmt: skip


def applicable_options(s: TrainSettings) -> frozenset[str]:
    """The settings that mean something for s.model (and its backbone)."""
    if s.model in _TRUNK_OPTIONS:
        return COMMON_OPTIONS | _TRUNK_OPTIONS[s.model] | {"features"}
    own = _FAMILY_OPTIONS.get(s.model, set())
    trunk = _TRUNK_OPTIONS.get(s.backbone, set()) if "backbone" in own else set()
    return COMMON_OPTIONS | own | trunk


def refuse_inapplicable(s: TrainSettings, explicit: set[str]) -> None:
    """A flag given for another family is a mistake worth a message, not silently ignored."""
    stray = sorted(explicit - applicable_options(s))
    if stray:
        flags = ", ".join("--" + name.replace("_", "-") for name in stray)
        where = f"--model {s.model}" + (
            f" with --backbone {s.backbone}" if "backbone" in applicable_options(s) else ""
        )
        raise InputError(f"{flags} does not apply to {where}")


def as_flags(changes: dict[str, Any]) -> list[str]:
    """The mh-train flags that give these settings (e.g. WIDE_EXCHANGE), tuples comma-joined."""
    return [
        f"--{name.replace('_', '-')}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
        for name, v in changes.items()
    ]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def merge_for_resume(
    saved: TrainSettings, given: TrainSettings, explicit: set[str]
) -> TrainSettings:
    """Settings of a resumed run: the saved ones, plus the runtime options given explicitly.

    Any other explicitly given option must agree with the saved run, so a job script can pass
    its full command line every time, while a real change of recipe is refused.
    """
    changes = {}
    for name in sorted(explicit):
        new, old = getattr(given, name), getattr(saved, name)
        if name in RESUMABLE_OVERRIDES:
            changes[name] = new
        elif new != old:
            raise InputError(
                f"--{name.replace('_', '-')} is {_jsonable(new)!r} but the run being resumed "
                f"used {_jsonable(old)!r}; start a new run to change it"
            )
    return saved.replace(**changes)
