"""The training loop: in-memory batching, optimisation steps, validation, early stopping,
checkpoints, metrics.csv, stop signals and DDP sharding.

Batches are index tensors into the on-device dataset (a fresh random permutation each epoch),
so no per-sample Python runs in the hot loop. Randomness is derived from (seed, epoch, step),
which makes CPU runs reproducible and lets an interrupted epoch resume at the step it stopped.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from training.augment import augment_batch
from training.checkpoint import BEST, LAST, save_checkpoint
from training.data import TensorData
from training.distributed import DistContext
from training.inference import predict_log2
from training.interrupt import StopRequest
from training.metrics import group_log2_mse
from training.models.base import HeightModel
from training.optim import Scheduler, step_scheduler
from training.report import append_metrics
from training.runtime import autocast
from training.settings import TrainSettings

POLL_EVERY = 16  # steps between DDP agreements on a stop signal (each costs a sync)
POSTFIX_EVERY = 25  # steps between progress-bar loss updates (each costs a sync)


def derived_seed(*parts: int) -> int:
    """A 56-bit seed from integers, so every (seed, epoch, step, rank) gets its own stream."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=7).digest()
    return int.from_bytes(digest, "little")


@dataclass
class LoopState:
    """Progress saved in last.pt: enough to continue exactly where training stopped."""

    epoch: int = 0  # epochs completed
    step: int = 0  # steps done in the unfinished epoch (after an interruption)
    world: int = 1  # world size that step count refers to
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    partial: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LoopState:
        return cls(**values)


class StepRunner:
    """One optimisation step on a batch already on the device (the benchmark uses it too)."""

    def __init__(
        self,
        model: HeightModel,
        forward: Callable,
        optimizer: torch.optim.Optimizer,
        bf16: bool,
        clip_grad: float,
        augment: bool,
    ) -> None:
        self.model, self.forward, self.optimizer = model, forward, optimizer
        self.bf16, self.clip_grad, self.augment = bf16, clip_grad, augment
        self.params = [p for p in model.parameters() if p.requires_grad]

    def __call__(
        self, P: torch.Tensor, nkm: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Returns (loss * batch, sum of squared log2 errors), detached, on the device."""
        if self.augment:
            P = augment_batch(P, nkm, generator)
        with autocast(P.device, self.bf16):
            out = self.forward(P, nkm)
        loss = self.model.loss(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip_grad)
        self.optimizer.step()
        with torch.no_grad():
            sq_err = (self.model.log2_pred(out) - y).square().sum()
            return torch.stack([loss.detach() * len(y), sq_err])


@dataclass
class EpochResult:
    train_loss: float
    train_log2_mse: float
    seconds: float
    samples_per_s: float


class Trainer:
    """Runs epochs until --epochs, early stopping or a stop signal; rank 0 writes the files."""

    def __init__(
        self,
        *,
        model: HeightModel,
        runner: StepRunner,
        scheduler: Scheduler | None,
        settings: TrainSettings,
        train: TensorData,
        val: TensorData,
        ctx: DistContext,
        run_dir: Path,
        state: LoopState,
        stop: StopRequest,
        checkpoint_info: dict[str, Any],
        quiet: bool,
    ) -> None:
        self.model, self.runner, self.scheduler = model, runner, scheduler
        self.s, self.train, self.val, self.ctx = settings, train, val, ctx
        self.run_dir, self.state, self.stop = run_dir, state, stop
        self.checkpoint_info = checkpoint_info
        self.quiet = quiet
        self.device = train.P.device
        self.show_bars = ctx.is_main and not quiet and sys.stderr.isatty()

    def done(self) -> bool:
        s, st = self.s, self.state
        return st.epoch >= s.epochs or (s.patience > 0 and st.bad_epochs >= s.patience)

    def fit(self) -> bool:
        """Train; True when finished, False when stopped by a signal (last.pt saved)."""
        while not self.done():
            result = self._train_epoch()
            if result is None:
                self._save(LAST)
                return False
            val = self.ctx.from_main(self.validate())
            lr = self.runner.optimizer.param_groups[0]["lr"]
            step_scheduler(self.scheduler, val)
            st = self.state
            st.epoch, st.step, st.partial = st.epoch + 1, 0, [0.0, 0.0, 0.0, 0.0]
            improved = val < st.best_val
            if improved:
                st.best_val, st.best_epoch, st.bad_epochs = val, st.epoch, 0
                self._save(BEST)
            else:
                st.bad_epochs += 1
            self._save(LAST)
            self._record(result, val, lr, improved)
            if self.ctx.any(self.stop.requested):
                return self.done()
        return True

    def validate(self) -> float:
        pred = predict_log2(self.model, self.val)
        return group_log2_mse(pred, self.val.y, self.val.nkm)[0]

    def _train_epoch(self) -> EpochResult | None:
        """One epoch (or its remainder); None when a stop signal interrupted it."""
        s, st, ctx = self.s, self.state, self.ctx
        epoch = st.epoch
        order = torch.Generator(device=self.device)
        order.manual_seed(derived_seed(s.seed, epoch, -1))
        perm = torch.randperm(len(self.train), generator=order, device=self.device)
        share = len(perm) // ctx.world
        batches = perm[ctx.rank * share : (ctx.rank + 1) * share].split(s.batch_size)
        first = st.step if st.world == ctx.world else 0
        sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        count, seconds = 0, 0.0
        if first and ctx.is_main:
            sums += torch.tensor(st.partial[:2], dtype=torch.float64, device=self.device)
            count, seconds = int(st.partial[2]), st.partial[3]
        aug = torch.Generator(device=self.device)
        self.model.train()
        bar = tqdm(
            total=len(batches),
            initial=first,
            desc=f"epoch {epoch + 1}/{s.epochs}",
            unit="batch",
            leave=False,
            disable=not self.show_bars,
            dynamic_ncols=True,
        )
        started = time.perf_counter()
        for i in range(first, len(batches)):
            index = batches[i]
            # per step, so a run resumed mid-epoch draws the same dropout masks and augmentations
            torch.manual_seed(derived_seed(s.seed, epoch, i, ctx.rank, 1))
            if s.augment:
                aug.manual_seed(derived_seed(s.seed, epoch, i, ctx.rank))
            sums += self.runner(
                self.train.P[index], self.train.nkm[index], self.train.y[index], aug
            )
            count += len(index)
            bar.update(1)
            if self.show_bars and (i + 1) % POSTFIX_EVERY == 0:
                elapsed = time.perf_counter() - started
                bar.set_postfix(
                    loss=f"{sums[0].item() / count:.4f}",
                    samples_s=f"{(i + 1 - first) * s.batch_size / elapsed:,.0f}",
                )
            if self._stop_now(i, len(batches)):
                bar.close()
                st.step, st.world = i + 1, ctx.world
                st.partial = self._totals(sums, count) + [seconds + time.perf_counter() - started]
                return None
        bar.close()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds += time.perf_counter() - started
        loss_sum, sq_sum, total = self._totals(sums, count)
        return EpochResult(loss_sum / total, sq_sum / total, seconds, total / max(seconds, 1e-9))

    def _totals(self, sums: torch.Tensor, count: int) -> list[float]:
        """Loss sum, squared-error sum and samples, over all ranks."""
        return self.ctx.all_sum(torch.cat([sums, sums.new_tensor([float(count)])])).tolist()

    def _stop_now(self, i: int, steps: int) -> bool:
        if not self.ctx.active:
            return self.stop.requested
        # every rank must reach the same collective: poll at fixed steps, never at the last
        # one (the end of the epoch polls anyway)
        if (i + 1) % POLL_EVERY or i + 1 == steps:
            return False
        return self.ctx.any(self.stop.requested)

    def _save(self, name: str) -> None:
        if not self.ctx.is_main:
            return
        contents = {
            **self.checkpoint_info,
            "model": self.model.state_dict(),
            "optimizer": self.runner.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "loop": self.state.to_dict(),
            "settings": self.s.to_dict(),
        }
        save_checkpoint(self.run_dir / name, contents)

    def _record(self, r: EpochResult, val: float, lr: float, improved: bool) -> None:
        if not self.ctx.is_main:
            return
        append_metrics(
            self.run_dir,
            {
                "epoch": self.state.epoch,
                "train_loss": r.train_loss,
                "train_log2_mse": r.train_log2_mse,
                "val_log2_mse": val,
                "lr": lr,
                "seconds": r.seconds,
                "samples_per_s": r.samples_per_s,
            },
        )
        if not self.quiet:
            mark = "  *best" if improved else ""
            tqdm.write(
                f"epoch {self.state.epoch}/{self.s.epochs}  train {r.train_log2_mse:.4f}  "
                f"val {val:.4f}  lr {lr:.2e}  {r.samples_per_s:,.0f} samples/s  "
                f"{r.seconds:.1f}s{mark}",
                file=sys.stderr,
            )
