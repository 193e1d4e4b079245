"""Checkpoint files: model config + weights + optimiser + loop state, written atomically."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import torch

from pipeline.contract import InputError, first_line, replaced_atomically
from training.models import build_model
from training.models.base import HeightModel

FORMAT = "mheight-train-checkpoint/2"  # /2: contents stored as bytes with their sha256
UNCHECKED_FORMAT = "mheight-train-checkpoint/1"  # older checkpoints, read without a checksum
BEST, LAST = "best.pt", "last.pt"


def save_checkpoint(path: Path, contents: dict[str, Any]) -> None:
    """Write then rename, so a kill mid-write never leaves a truncated checkpoint; the contents
    travel as torch.save bytes with their sha256, so a corrupted file is refused on load."""
    buffer = io.BytesIO()
    torch.save(contents, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    with replaced_atomically(path) as tmp:
        torch.save({"format": FORMAT, "sha256": digest, "payload": payload}, tmp)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its best.pt)."""
    path = Path(path)
    return path / BEST if path.is_dir() else path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = resolve_checkpoint(path)
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
    return {"format": FORMAT, **torch.load(io.BytesIO(payload), weights_only=True)}


def load_model(path: str | Path, device: torch.device) -> tuple[HeightModel, dict[str, Any]]:
    """The model of a checkpoint, in eval mode on device, and the checkpoint itself."""
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["model_config"])
    load_weights(model, ckpt["model"], path)
    return model.to(device).eval(), ckpt


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Any) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise InputError(f"{source}: weights do not match the model ({first_line(e)})") from None
