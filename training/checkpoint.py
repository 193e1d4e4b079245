"""Checkpoints (best.pt, last.pt): one typed record, written and read only here.

A checkpoint holds the model config and weights, and for resuming the optimiser, the schedule,
the loop's progress, the settings and the data fingerprints. The file is written atomically;
format /2 stores the torch.save bytes of the contents with their sha256, so a corrupted file is
refused, and format /1 files (no checksum) are still read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.contract import InputError, first_line, replaced_atomically
from training.models import ModelConfig, build_model
from training.models.base import HeightModel
from training.settings import TrainSettings

FORMAT = "mheight-train-checkpoint/2"  # /2: contents stored as bytes with their sha256
UNCHECKED_FORMAT = "mheight-train-checkpoint/1"  # older checkpoints, read without a checksum
BEST, LAST = "best.pt", "last.pt"


@dataclass(frozen=True)
class EpochSums:
    """Running totals of an unfinished epoch (over all ranks), so a resumed one reports whole."""

    loss: float = 0.0  # sum of loss x batch size
    sq_err: float = 0.0  # sum of squared log2 errors
    samples: float = 0.0
    seconds: float = 0.0


@dataclass
class LoopState:
    """The loop's progress: enough to continue exactly where training stopped."""

    epoch: int = 0  # epochs completed
    step: int = 0  # steps done in the unfinished epoch (after an interruption)
    world: int = 1  # world size that step count refers to
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    partial: EpochSums = field(default_factory=EpochSums)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LoopState:
        partial = values.get("partial", {})
        if isinstance(partial, list):  # checkpoints before EpochSums: the same four numbers
            partial = dict(zip(("loss", "sq_err", "samples", "seconds"), partial, strict=True))
        return cls(**{**values, "partial": EpochSums(**partial)})


@dataclass(frozen=True)
class Checkpoint:
    """The contents of a checkpoint file; everything but the model is absent (None) in one
    that only serves predictions."""

    model_config: ModelConfig
    model: dict[str, torch.Tensor]
    settings: TrainSettings | None = None
    data: dict[str, Any] | None = None  # paths, rows and fingerprints of train and val
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    loop: LoopState | None = None

    def save(self, path: Path) -> None:
        """Write then rename, so a kill mid-write never leaves a truncated checkpoint."""
        contents = {
            "model_config": self.model_config.to_json(),
            "model": self.model,
            "settings": None if self.settings is None else self.settings.to_dict(),
            "data": self.data,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "loop": None if self.loop is None else self.loop.to_dict(),
        }
        buffer = io.BytesIO()
        torch.save(contents, buffer)
        payload = buffer.getvalue()
        digest = hashlib.sha256(payload).hexdigest()
        with replaced_atomically(path) as tmp:
            torch.save({"format": FORMAT, "sha256": digest, "payload": payload}, tmp)

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """A checkpoint file, or a run folder's best.pt; InputError when it is not one."""
        contents = _read(resolve_checkpoint(path))
        settings, loop = contents.get("settings"), contents.get("loop")
        return cls(
            model_config=ModelConfig.from_json(contents.get("model_config")),
            model=contents.get("model", {}),
            settings=None if settings is None else TrainSettings.from_dict(settings),
            data=contents.get("data"),
            optimizer=contents.get("optimizer"),
            scheduler=contents.get("scheduler"),
            loop=None if loop is None else LoopState.from_dict(loop),
        )

    def load_weights(self, model: torch.nn.Module, source: Any) -> None:
        """This checkpoint's weights into ``model``; InputError when they do not fit."""
        try:
            model.load_state_dict(self.model)
        except RuntimeError as e:
            raise InputError(
                f"{source}: weights do not match the model ({first_line(e)})"
            ) from None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its best.pt)."""
    path = Path(path)
    return path / BEST if path.is_dir() else path


def _read(path: Path) -> dict[str, Any]:
    """The stored contents of a checkpoint file of either format, checked."""
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # some other file, or a pickle holding arbitrary objects
        raise InputError(f"{path}: not an mh-train checkpoint") from None
    except Exception as e:  # torch.load raises many types for truncated or foreign files
        raise InputError(
            f"{path}: not a readable mh-train checkpoint ({type(e).__name__}: {first_line(e)})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in (FORMAT, UNCHECKED_FORMAT):
        raise InputError(f"{path}: not an mh-train checkpoint")
    if ckpt["format"] == UNCHECKED_FORMAT:
        return ckpt
    payload = ckpt.get("payload")
    if not isinstance(payload, bytes) or hashlib.sha256(payload).hexdigest() != ckpt.get("sha256"):
        raise InputError(f"{path}: corrupted checkpoint (its sha256 does not match its contents)")
    return torch.load(io.BytesIO(payload), weights_only=True)


def load_model(path: str | Path, device: torch.device) -> tuple[HeightModel, Checkpoint]:
    """The model of a checkpoint, in eval mode on device, and the checkpoint itself."""
    ckpt = Checkpoint.load(path)
    model = build_model(ckpt.model_config)
    ckpt.load_weights(model, path)
    return model.to(device).eval(), ckpt
