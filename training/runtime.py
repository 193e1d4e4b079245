"""Device and precision choices, and the versions recorded with every run."""

from __future__ import annotations

import contextlib

import torch

from pipeline import contract
from pipeline.contract import InputError


def resolve_device(choice: str) -> torch.device:
    """auto: CUDA when available. CUDA gets an explicit index (device generators need it)."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    if choice == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


def uses_bf16(precision: str, device: torch.device) -> bool:
    """auto: bf16 autocast on CUDA, full fp32 on CPU."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def versions() -> dict[str, str | None]:
    """The contract's record of versions, plus torch's CUDA build."""
    return {**contract.versions("torch", "numpy", "pyarrow"), "cuda": torch.version.cuda}
