"""The training loop: plain PyTorch, reads top to bottom.

``train(cfg, run)`` locks the run folder, lets the run's task (:mod:`mmae.tasks`) open the
data and hold out the validation split, builds the model, then loops over epochs. Training data
that fits stays on the device as uint8 and batches are indexed there
(:mod:`mmae.training.resident`); the step reads nothing back from the device
(:mod:`mmae.training.step`). ``checkpoint.pt`` (model, optimizer, epoch and step, RNG state) is
written every ``save_every_s`` seconds (mid-epoch too), every ``save_every`` epochs when set, at
the end, and when SIGTERM / SIGINT stop the run (:mod:`mmae.training.stopping`), in a background
thread that finishes before the next optimizer step. Batches of epoch ``e`` are a pure function of
``(seed, e)``, so ``resume`` replays an interrupted epoch from its checkpointed step exactly and
ends with the weights an uninterrupted run would have. Losses and diagnostics stay on the device
until the epoch's log line (:mod:`mmae.training.epoch_stats`). A model without an optimiser
(``trainable = False``) is fitted once with ``model.fit_data(batches)`` instead. After training the
task calibrates the default threshold on the validation split (in IEEE float32). Launch with
``torchrun`` for several GPUs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from mmae._version import __version__
from mmae.config import RunConfig
from mmae.device import Runtime, evaluation_precision, setup_runtime, teardown_runtime
from mmae.errors import MMAEError
from mmae.models.registry import create_model
from mmae.runs import checkpoint as ck
from mmae.runs.run import Run
from mmae.runs.tensorboard import RunLogger
from mmae.tasks import Task, batch_input, get_task
from mmae.training.checkpoint_writer import CheckpointWriter, model_state
from mmae.training.resident import ResidentData, epoch_order
from mmae.training.seed import get_rng_state, seed_everything, seed_worker, set_rng_state
from mmae.training.step import TrainStep, make_optimizer, uses_channels_last
from mmae.training.stopping import SaveClock, StopSignals, TrainingStopped, stopped_message

_POSTFIX_EVERY_S = 1.0  # seconds between progress-bar loss updates
_AGREE_EVERY = 50  # distributed: steps between the ranks' agreement on checkpoints and stops


class TrainingError(MMAEError):
    """Training cannot go on (e.g. the loss became non-finite)."""


def _loader(ds: Dataset, batches: list[list[int]], cfg: RunConfig, seed: int) -> Iterable[Any]:
    """The epoch's collated batches: indexed whole from a dataset that has ``get_batch`` (data
    already in memory, no workers), else through a DataLoader."""
    if cfg.num_workers == 0 and hasattr(ds, "get_batch"):
        return (ds.get_batch(b) for b in batches)
    if cfg.num_workers == 0 and isinstance(ds, Subset) and hasattr(ds.dataset, "get_batch"):
        index = ds.indices  # the training part of a validation split
        return (ds.dataset.get_batch([index[i] for i in b]) for b in batches)
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_sampler=batches, num_workers=cfg.num_workers,
                      worker_init_fn=seed_worker, generator=g,
                      persistent_workers=False, pin_memory=torch.cuda.is_available())


def _stop(epoch: int, run: Path) -> None:
    raise TrainingError(
        f"loss became non-finite at epoch {epoch + 1}; training stopped, the last good "
        f"checkpoint in {run} is kept (try a lower lr)")


def build_model(cfg: RunConfig) -> torch.nn.Module:
    """The model a config describes."""
    return create_model(cfg.model, **cfg.model_kwargs())


def _fit_data(model: torch.nn.Module, task: Task, train_set: Any, cfg: RunConfig, run: Path,
              device: torch.device, tb: RunLogger | None = None) -> None:
    """Fit a model that has no optimiser (``trainable = False``) on the training inputs.

    ``model.fit_data`` sees them batch by batch, in order; the log record and the checkpoint say
    epoch ``cfg.epochs`` (the optimiser state is empty).
    """
    t0 = time.perf_counter()
    model.fit_data(x.to(device) for x in task.fit_batches(train_set, cfg.batch_size))
    seconds = max(time.perf_counter() - t0, 1e-9)
    record = {"epoch": cfg.epochs, "fit_seconds": round(seconds, 3),
              "samples_per_s": len(train_set) / seconds}
    with open(run / ck.LOG, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    if tb is not None:
        tb.log_epoch(record)
    ck.save_checkpoint(run / ck.CHECKPOINT, {
        "model": model.state_dict(), "optimizer": {}, "epoch": cfg.epochs,
        "rng": get_rng_state(), "config": cfg.to_dict(), "mmae_version": __version__})


def train(cfg: RunConfig, run: Path, resume: bool = False, progress: bool = True,
          dataset: Any = None) -> Path:
    """Train a model; returns the run folder.

    Args:
        cfg: Resolved config (``channels`` is taken from the data if ``None``; ``cfg`` itself is
            not changed).
        run: Run folder (created by the caller; must hold ``checkpoint.pt`` when resuming).
        resume: Continue from ``run/checkpoint.pt`` (model, optimizer, epoch, RNG state).
        progress: Show a progress bar.
        dataset: Training data already in memory (an image dataset with ``channels`` and
            ``{"image": ...}`` items); default: opened from ``cfg.data``.

    Raises:
        RunFolderError: another process is writing this run folder.
    """
    with Run(run).lock(enabled=int(os.environ.get("RANK", "0")) == 0):
        return _train(cfg, Path(run), resume, progress, dataset)


def _train(cfg: RunConfig, run: Path, resume: bool, progress: bool, dataset: Any) -> Path:
    rt = setup_runtime(cfg.device, cfg.amp)
    if rt.world_size > 1:
        torch.distributed.barrier()  # rank 0 has prepared the run folder
    seed_everything(cfg.seed)
    task = get_task(cfg)
    data = dataset if dataset is not None else task.open(
        "train", cache_dir=run / "cache" if rt.is_main else None,
        progress=progress and rt.is_main)
    if cfg.channels is None:
        cfg = dataclasses.replace(cfg, channels=task.channels(data))
        task = get_task(cfg)
    train_part, val_part = task.split(data)
    train_set = task.training_set(train_part)
    if len(train_set) == 0:
        raise TrainingError(f"no training samples in {cfg.data}")

    model = build_model(cfg).to(rt.device)
    task.check_post(model)
    trainable = getattr(model, "trainable", True)
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay, rt.device) if trainable else None
    start_epoch = start_step = 0
    if resume:
        state = ck.load_checkpoint(run / ck.CHECKPOINT)
        model.load_state_dict(state["model"])
        if opt is not None:
            opt.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"])
        start_step = int(state.get("step", 0))  # steps of epoch start_epoch + 1 already done
        set_rng_state(state["rng"])
    if rt.is_main:
        Run(run).save_config(cfg)
    tb = RunLogger.open(cfg.logger, run) if rt.is_main else None
    if not trainable:
        if start_epoch < cfg.epochs and rt.is_main:
            _fit_data(model, task, train_set, cfg, run, rt.device, tb)
        start_epoch = cfg.epochs
    if trainable and uses_channels_last(cfg.channels_last, model):
        model.to(memory_format=torch.channels_last)  # before DistributedDataParallel's buckets
    net = model
    if rt.world_size > 1 and trainable:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)
    try:
        if start_epoch < cfg.epochs:
            _loop(cfg, run, rt, model, net, opt, train_set, start_epoch, start_step, progress, tb)
    finally:
        if tb is not None:
            tb.close()
    if rt.is_main:
        with evaluation_precision():
            task.fit_post(Run(run), model, train_part, rt.device)  # before the threshold
            task.calibrate(Run(run), model, val_part, train_part, rt.device)
    teardown_runtime(rt)
    return run


def _batches(train_set: Any, resident: ResidentData | None, cfg: RunConfig, epoch: int,
             rt: Runtime, step: TrainStep, skip: int = 0) -> Iterator[torch.Tensor]:
    """The epoch's prepared model inputs in the order of :func:`epoch_order`, from batch
    ``skip`` on (the last partial batch is kept)."""
    bs = cfg.batch_size
    if resident is not None:
        order = resident.order(cfg.seed, epoch, rt.rank, rt.world_size)
        for i in range(skip * bs, len(order), bs):
            yield step.prepare(resident.batch(order[i : i + bs]))
        return
    order = epoch_order(len(train_set), cfg.seed, epoch, rt.rank, rt.world_size).tolist()
    batches = [order[i : i + bs] for i in range(0, len(order), bs)][skip:]
    for batch in _loader(train_set, batches, cfg, cfg.seed + epoch):
        yield step.prepare(batch_input(batch))


def _agree(rt: Runtime, *flags: bool) -> list[bool]:
    """Flags OR-ed over the ranks of a distributed run (one small all-reduce; reads the result)."""
    if rt.world_size == 1:
        return list(flags)
    t = torch.tensor([float(f) for f in flags], device=rt.device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def _loop(cfg: RunConfig, run: Path, rt: Runtime, model: torch.nn.Module,
          net: torch.nn.Module, opt: torch.optim.Optimizer, train_set: Any, start_epoch: int,
          start_step: int, progress: bool, tb: RunLogger | None = None) -> None:
    """Epochs ``start_epoch..epochs`` (skipping the first ``start_step`` steps of the first)."""
    step = TrainStep(model, net, opt, rt, cfg.grad_clip, cfg.compile, cfg.channels_last)
    resident = (ResidentData.from_dataset(train_set, rt.device) if cfg.num_workers == 0
                else None)
    steps_per_epoch = math.ceil(len(train_set) / rt.world_size / cfg.batch_size)
    bar = tqdm(total=(cfg.epochs - start_epoch) * steps_per_epoch - start_step,
               desc=f"train {cfg.model}", disable=not (progress and rt.is_main), unit="step",
               dynamic_ncols=True, mininterval=0.5)
    stats = step.stats
    writer = CheckpointWriter()
    step.before_update = writer.wait  # a checkpoint is on disk before the weights change
    clock = SaveClock(cfg.save_every_s, cfg.save_every)

    def save(epoch: int, k: int) -> None:
        """Checkpoint after ``epoch`` whole epochs and ``k`` steps of the next."""
        if rt.is_main:
            writer.submit(run / ck.CHECKPOINT, {
                "model": model_state(model), "optimizer": opt.state_dict(), "epoch": epoch,
                "step": k, "rng": get_rng_state(), "config": cfg.to_dict(),
                "mmae_version": __version__})
        clock.saved()

    # Reading a loss waits for an accelerator: there, finiteness is read without waiting
    # (EpochStats.peek) while the progress bar shows, and at the end of the epoch; on the CPU
    # after every step (free).
    check_every_step = rt.device.type == "cpu"
    # Distributed ranks agree on mid-epoch checkpoints and stops every this many steps.
    agree_every = 1 if rt.world_size == 1 else _AGREE_EVERY
    model.train()
    with StopSignals() as stop:
        try:
            for epoch in range(start_epoch, cfg.epochs):
                skip = start_step if epoch == start_epoch else 0
                stats.reset()
                t0 = shown = time.perf_counter()
                batches = _batches(train_set, resident, cfg, epoch, rt, step, skip)
                for k, x in enumerate(batches, skip + 1):
                    step(x)
                    if check_every_step and not stats.finite():
                        _stop(epoch, run)
                    bar.update(1)
                    now = time.perf_counter()
                    if not bar.disable and now - shown >= _POSTFIX_EVERY_S:
                        shown = now
                        peek = stats.peek()
                        if peek is not None and not peek[1]:
                            _stop(epoch, run)
                        bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", refresh=False,
                                        loss="..." if peek is None else f"{peek[0]:.4g}",
                                        **{"samples/s": f"{stats.seen / (now - t0):.0f}"})
                    if k < steps_per_epoch and k % agree_every == 0:
                        halt, due = _agree(rt, stop.requested, clock.due_by_time())
                        if halt or due:
                            if not stats.finite():
                                _stop(epoch, run)
                            save(epoch, k)
                        if halt:
                            _halt(stop.signum, run, epoch, k, steps_per_epoch, writer)
                if not stats.finite():
                    _stop(epoch, run)
                record: dict[str, Any] = {"epoch": epoch + 1}
                record.update(stats.summary())
                record["samples_per_s"] = stats.seen / max(time.perf_counter() - t0, 1e-9)
                if skip:
                    record["resumed_at_step"] = skip
                if rt.is_main:
                    with open(run / ck.LOG, "a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    if tb is not None:
                        tb.log_epoch(record)
                halt, due = _agree(rt, stop.requested,
                                   clock.due_at_epoch_end(epoch + 1, cfg.epochs))
                if halt or due:
                    save(epoch + 1, 0)
                if halt and epoch + 1 < cfg.epochs:
                    _halt(stop.signum, run, epoch + 1, 0, steps_per_epoch, writer)
        finally:
            writer.wait()
            bar.close()


def _halt(signum: int | None, run: Path, epoch: int, k: int, steps: int,
          writer: CheckpointWriter) -> None:
    writer.wait()
    raise TrainingStopped(stopped_message(signum or signal.SIGTERM, str(run), epoch, k, steps),
                          signum or signal.SIGTERM)
