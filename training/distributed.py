"""torch DDP when launched by torchrun (WORLD_SIZE > 1); a no-op context otherwise.

Every rank holds the whole dataset and draws the same permutation each epoch, then trains on
its own contiguous share of it; only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
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

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


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
    return DistContext(rank, world, local_rank, device)


def shutdown(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()
