"""The training loop: optimiser and schedule, in-memory batching, optimisation steps,
validation, early stopping, checkpoints, metrics.csv rows, stop signals and DDP sharding.

Batches are index tensors into the on-device dataset (a fresh random permutation each epoch),
so no per-sample Python runs in the hot loop. Randomness is derived from (seed, epoch, step),
which makes CPU runs reproducible and lets an interrupted epoch resume at the step it stopped.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training.checkpoint import BEST, LAST, Checkpoint, EpochSums, LoopState
from training.data import TensorData, augment_batch
from training.inference import predict_log2
from training.metrics import group_log2_mse
from training.models.base import HeightModel
from training.report import EpochRow, append_metrics
from training.runtime import DistContext, StopRequest, autocast, uses_bf16
from training.settings import TrainSettings

PLATEAU_PATIENCE = 3  # epochs without validation improvement before the lr is halved
PLATEAU_FACTOR = 0.5

Scheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau


POLL_EVERY = 16  # steps between DDP agreements on a stop signal (each costs a sync)
POSTFIX_EVERY = 25  # steps between progress-bar loss updates (each costs a sync)


def derived_seed(*parts: int) -> int:
    """A 56-bit seed from integers, so every (seed, epoch, step, rank) gets its own stream."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=7).digest()
    return int.from_bytes(digest, "little")


def build_optimizer(
    s: TrainSettings, params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """Adam or AdamW over ``params``, fused on CUDA."""
    params = list(params)
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[s.optimizer]
    fused = all(p.is_cuda for p in params)  # one kernel per step instead of one per tensor
    return kind(params, lr=s.lr, weight_decay=s.weight_decay, fused=fused or None)


def build_scheduler(s: TrainSettings, optimizer: torch.optim.Optimizer) -> Scheduler | None:
    """Per-epoch schedule: cosine from lr towards 0 over --epochs, plateau halving, or none."""
    if s.schedule == "cosine":
        epochs = max(s.epochs, 1)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda e: 0.5 * (1.0 + math.cos(math.pi * min(e, epochs) / epochs))
        )
    if s.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
        )
    return None


def step_scheduler(scheduler: Scheduler | None, val_metric: float) -> None:
    """One epoch's step of the schedule (plateau watches the validation score)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_metric)
    elif scheduler is not None:
        scheduler.step()


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
    """Runs epochs until --epochs, early stopping or a stop signal; rank 0 writes the files.

    Set up from the model, the data (on ``ctx.device``) and, when resuming, the checkpoint: the
    forward pass (DDP, torch.compile), optimiser, schedule and loop state are made here.
    """

    def __init__(
        self,
        settings: TrainSettings,
        model: HeightModel,
        data: tuple[TensorData, TensorData],
        data_info: dict[str, Any],
        ctx: DistContext,
        run_dir: Path,
        resumed: Checkpoint | None,
        *,
        quiet: bool,
    ) -> None:
        s = settings
        model.to(ctx.device)
        forward: Any = model
        if ctx.active:
            forward = DistributedDataParallel(
                model,
                device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=model.conditional_experts,
            )
        if s.compile:
            forward = torch.compile(forward)
        optimizer = build_optimizer(s, model.parameters())
        self.scheduler = build_scheduler(s, optimizer)
        self.state = LoopState()
        if resumed is not None:
            optimizer.load_state_dict(resumed.optimizer)
            if self.scheduler is not None and resumed.scheduler is not None:
                self.scheduler.load_state_dict(resumed.scheduler)
            self.state = resumed.loop
        self.bf16 = uses_bf16(s.precision, ctx.device)
        self.runner = StepRunner(model, forward, optimizer, self.bf16, s.clip_grad, s.augment)
        self.model, self.s, (self.train, self.val), self.ctx = model, s, data, ctx
        self.run_dir, self.quiet = run_dir, quiet
        self.stop = StopRequest()
        self.device = ctx.device
        self.show_bars = ctx.is_main and not quiet and sys.stderr.isatty()
        self.data_info = data_info  # stored in checkpoints

    def done(self) -> bool:
        s, st = self.s, self.state
        return st.epoch >= s.epochs or (s.patience > 0 and st.bad_epochs >= s.patience)

    def fit(self) -> bool:
        """Train; True when finished, False when stopped by a signal (last.pt saved)."""
        with self.stop:
            return self._fit()

    def _fit(self) -> bool:
        while not self.done():
            result = self._train_epoch()
            if result is None:
                self._save(LAST)
                return False
            val = self.ctx.from_main(self.validate())
            lr = self.runner.optimizer.param_groups[0]["lr"]
            step_scheduler(self.scheduler, val)
            st = self.state
            st.epoch, st.step, st.partial = st.epoch + 1, 0, EpochSums()
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
            done = [st.partial.loss, st.partial.sq_err]
            sums += torch.tensor(done, dtype=torch.float64, device=self.device)
            count, seconds = int(st.partial.samples), st.partial.seconds
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
                elapsed = seconds + time.perf_counter() - started
                st.partial = EpochSums(*self._totals(sums, count), elapsed)
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
        Checkpoint(
            model_config=self.model.config,
            model=self.model.state_dict(),
            settings=self.s,
            data=self.data_info,
            optimizer=self.runner.optimizer.state_dict(),
            scheduler=None if self.scheduler is None else self.scheduler.state_dict(),
            loop=self.state,
        ).save(self.run_dir / name)

    def _record(self, r: EpochResult, val: float, lr: float, improved: bool) -> None:
        if not self.ctx.is_main:
            return
        row = EpochRow(
            self.state.epoch, r.train_loss, r.train_log2_mse, val, lr, r.seconds, r.samples_per_s
        )
        append_metrics(self.run_dir, row)
        if not self.quiet:
            mark = "  *best" if improved else ""
            tqdm.write(
                f"epoch {self.state.epoch}/{self.s.epochs}  train {r.train_log2_mse:.4f}  "
                f"val {val:.4f}  lr {lr:.2e}  {r.samples_per_s:,.0f} samples/s  "
                f"{r.seconds:.1f}s{mark}",
                file=sys.stderr,
            )
