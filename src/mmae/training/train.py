"""The training loop: plain PyTorch, reads top to bottom.

``train(cfg, run)`` locks the run folder, lets the run's task (:mod:`mmae.tasks`) open the
data and hold out the validation split, builds the model, then loops over epochs; every
``save_every`` epochs it atomically writes ``checkpoint.pt`` (model, optimizer, epoch, RNG state),
in a background thread that finishes before the next optimizer step. Batches of epoch ``e`` are a
pure function of ``(seed, e)``, so ``resume`` replays an interrupted epoch exactly and ends with the
weights an uninterrupted run would have. Losses and diagnostics stay on the device until the
epoch's log line (:mod:`mmae.training.epoch_stats`). A model without an optimiser
(``trainable = False``) is fitted once with ``model.fit_data(batches)`` instead. After training the
task calibrates the default threshold on the validation split. Launch with ``torchrun`` for several
GPUs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from mmae._version import __version__
from mmae.config import RunConfig
from mmae.device import Runtime, setup_runtime, teardown_runtime
from mmae.errors import MMAEError
from mmae.models.registry import create_model
from mmae.runs import checkpoint as ck
from mmae.runs.run import Run
from mmae.runs.tensorboard import RunLogger
from mmae.tasks import Task, batch_input, get_task
from mmae.training.checkpoint_writer import CheckpointWriter, model_state
from mmae.training.epoch_stats import EpochStats
from mmae.training.seed import (
    epoch_generator,
    get_rng_state,
    seed_everything,
    seed_worker,
    set_rng_state,
)

_POSTFIX_EVERY_S = 1.0  # seconds between progress-bar loss updates


class TrainingError(MMAEError):
    """Training cannot go on (e.g. the loss became non-finite)."""


def _epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rt: Runtime) -> list[list[int]]:
    """Shuffled batches of one epoch (this rank's share); the last partial batch is kept."""
    perm = torch.randperm(n, generator=epoch_generator(seed, epoch)).tolist()
    perm = perm[rt.rank :: rt.world_size]
    return [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]


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
    trainable = getattr(model, "trainable", True)
    opt = (torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
           if trainable else None)
    start_epoch = 0
    if resume:
        state = ck.load_checkpoint(run / ck.CHECKPOINT)
        model.load_state_dict(state["model"])
        if opt is not None:
            opt.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"])
        set_rng_state(state["rng"])
    if rt.is_main:
        Run(run).save_config(cfg)
    tb = RunLogger.open(cfg.logger, run) if rt.is_main else None
    if not trainable:
        if start_epoch < cfg.epochs and rt.is_main:
            _fit_data(model, task, train_set, cfg, run, rt.device, tb)
        start_epoch = cfg.epochs
    net = model
    if rt.world_size > 1 and trainable:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)

    steps_per_epoch = math.ceil(len(train_set) / rt.world_size / cfg.batch_size)
    bar = tqdm(total=(cfg.epochs - start_epoch) * steps_per_epoch, desc=f"train {cfg.model}",
               disable=not (progress and rt.is_main), unit="step", dynamic_ncols=True,
               mininterval=0.5)
    log_path = run / ck.LOG
    stats = EpochStats(model)
    writer = CheckpointWriter()
    # Reading a loss waits for an accelerator: there, finiteness is checked when the progress bar
    # shows the loss and at the end of the epoch; on the CPU after every forward pass (free).
    check_every_step = rt.device.type == "cpu"
    model.train()
    try:
        for epoch in range(start_epoch, cfg.epochs):
            batches = _epoch_batches(len(train_set), cfg.batch_size, cfg.seed, epoch, rt)
            stats.reset()
            t0 = shown = time.perf_counter()
            for batch in _loader(train_set, batches, cfg, cfg.seed + epoch):
                x = batch_input(batch).to(rt.device, non_blocking=True)
                with rt.autocast():
                    out = net(x)
                    losses = model.loss(x, out)
                stats.add(losses, out, x.shape[0])
                if check_every_step and not stats.finite():
                    _stop(epoch, run)
                opt.zero_grad(set_to_none=True)
                losses["loss"].backward()
                stats.grad_norms.update()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                writer.wait()  # the previous checkpoint is on disk before the weights change
                opt.step()
                bar.update(1)
                now = time.perf_counter()
                if not bar.disable and now - shown >= _POSTFIX_EVERY_S:
                    shown = now
                    if not stats.finite():
                        _stop(epoch, run)
                    bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}",
                                    loss=f"{stats.mean_loss():.4g}",
                                    refresh=False,
                                    **{"samples/s": f"{stats.seen / (now - t0):.0f}"})
            if not stats.finite():
                _stop(epoch, run)
            record: dict[str, Any] = {"epoch": epoch + 1}
            record.update(stats.summary())
            record["samples_per_s"] = stats.seen / max(time.perf_counter() - t0, 1e-9)
            if rt.is_main:
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(record) + "\n")
                if tb is not None:
                    tb.log_epoch(record)
                if (epoch + 1) % cfg.save_every == 0 or epoch + 1 == cfg.epochs:
                    writer.submit(run / ck.CHECKPOINT, {
                        "model": model_state(model), "optimizer": opt.state_dict(),
                        "epoch": epoch + 1, "rng": get_rng_state(), "config": cfg.to_dict(),
                        "mmae_version": __version__,
                    })
    finally:
        writer.wait()
        if tb is not None:
            tb.close()
    bar.close()
    if rt.is_main:
        task.calibrate(Run(run), model, val_part, train_part, rt.device)
    teardown_runtime(rt)
    return run
