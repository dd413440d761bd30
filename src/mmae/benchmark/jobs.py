"""Running benchmark cells: in this process (one job) or in a pool of worker processes.

With ``jobs > 1`` every cell runs in a ``spawn``-started worker process; worker ``i`` limits
torch to ``max(1, cpu_count // jobs)`` threads and, where there are CUDA GPUs and the cell's
device is ``auto`` or ``cuda``, trains on ``cuda:(i mod n_gpus)`` (:func:`worker_gpu`): up to
``jobs`` cells at once, spread round robin over the GPUs, several per GPU when ``jobs`` exceeds
them (one cell uses a few percent of a large GPU). Each cell records its peak GPU memory
(:mod:`mmae.benchmark.cell`). A cell that raises is reported as failed (its traceback in the
cell's ``error.txt``) and the others go on.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

CELL_ERROR = "error.txt"
# Cell key: (model, category, seed); a job: key, cell folder.
Key = tuple[str, str, int]
Job = tuple[Key, Path]
Outcome = tuple[str, Any]  # ("done", record) or ("failed", one-line error)

_WORKER: dict[str, Any] = {"index": None, "gpus": 0}


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def execute_cell(plan: Any, key: Key, cell: Path, device: str | None = None) -> Outcome:
    """Run one cell and catch its failure (traceback to ``cell/error.txt``)."""
    from mmae.benchmark.cell import run_cell

    model, category, seed = key
    try:
        return "done", run_cell(plan, model, category, cell, seed=seed, device=device)
    except Exception as exc:  # noqa: BLE001 - one broken cell must not stop the others
        if getattr(exc, "signum", None) is not None:  # training stopped by Ctrl-C / SIGTERM:
            raise KeyboardInterrupt from exc  # the whole benchmark stops, not just this cell
        cell.mkdir(parents=True, exist_ok=True)
        (cell / CELL_ERROR).write_text(traceback.format_exc())
        return "failed", _one_line(exc)


def _init_worker(indices: Any, threads: int, gpus: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["index"] = indices.get()
    _WORKER["gpus"] = gpus


def worker_gpu(index: int, gpus: int) -> int | None:
    """The CUDA device of worker ``index`` when there are ``gpus`` GPUs (round robin), or None."""
    return index % gpus if gpus > 0 else None


def _worker_cell(plan: Any, key: Key, cell: Path) -> Outcome:
    device = None
    gpu = worker_gpu(_WORKER["index"], _WORKER["gpus"])
    if gpu is not None and plan.configs[key[0]].device in ("auto", "cuda"):
        device = f"cuda:{gpu}"
    return execute_cell(plan, key, cell, device)


def worker_threads(jobs: int) -> int:
    """Torch threads per worker: ``max(1, cpu_count // jobs)``."""
    return max(1, (os.cpu_count() or 1) // jobs)


def run_cells(plan: Any, todo: Sequence[Job], jobs: int,
              on_done: Callable[[Key, Outcome], None]) -> None:
    """Run every job, calling ``on_done(key, outcome)`` in this process as each one finishes.

    Args:
        plan: The :class:`~mmae.benchmark.runner.BenchmarkPlan` (pickled to the workers).
        todo: (key, cell folder) pairs, in run order.
        jobs: Worker processes; 1 runs the cells here, one after the other.
        on_done: Called once per job (also for failures), in completion order.
    """
    if jobs <= 1 or len(todo) <= 1:
        for key, cell in todo:
            on_done(key, execute_cell(plan, key, cell))
        return
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    ctx = get_context("spawn")
    workers = min(jobs, len(todo))
    indices = ctx.Queue()
    for i in range(workers):
        indices.put(i)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(indices, worker_threads(jobs), gpus)) as pool:
        pending = {pool.submit(_worker_cell, plan, key, cell): key for key, cell in todo}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    key = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except Exception as exc:  # noqa: BLE001 - e.g. a worker that died
                        outcome = ("failed", _one_line(exc))
                    on_done(key, outcome)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
