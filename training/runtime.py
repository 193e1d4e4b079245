"""Where and how a run executes: device and precision, torch DDP ranks, stop signals.

- DDP when launched by torchrun (WORLD_SIZE > 1), a no-op context otherwise: every rank holds
  the whole dataset and draws the same permutation each epoch, then trains on its own
  contiguous share of it; only rank 0 writes files.
- SIGUSR1/SIGTERM (SLURM's warning and time-limit signals) become a polite stop request: the
  loop polls it after every step, saves last.pt and returns, so the process exits normally and
  a resubmitted job continues with --resume.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import dataclass
from types import FrameType

import torch
import torch.distributed as dist

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


@dataclass(frozen=True)
class DistContext:
    """This process's rank among ``world`` (1: not distributed) and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.active:
            dist.all_reduce(tensor)
        return tensor

    def any(self, flag: bool) -> bool:
        """True on every rank when flag is true on any (e.g. a signal that reached one rank)."""
        if not self.active:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def from_main(self, value: float) -> float:
        """Rank 0's value everywhere, so every rank takes the same early-stopping decisions."""
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(t, src=0)
        return float(t.item())


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 (or not distributed), known from the environment before the group is joined."""
    return os.environ.get("RANK", "0") == "0"


def init_distributed(device: torch.device) -> DistContext:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU) and pick this rank's device."""
    world = world_size_from_env()
    if world <= 1:
        return DistContext(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world, device)


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGUSR1", None), signal.SIGTERM) if s is not None)


class StopRequest:
    """Context manager that records a stop signal instead of dying from it."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
