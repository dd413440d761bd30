"""Micro-batching of concurrent requests: one worker task, one model call per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np


class Batcher:
    """Collect concurrent single-image requests into batches for one scoring function.

    Requests wait in an asyncio queue; a single worker task takes the first waiting request,
    gathers more until ``max_batch`` are waiting or ``max_wait_s`` has passed, runs ``fn`` once
    on the whole list in ``executor`` (off the event loop) and resolves each request's future
    with its own row of the result.

    Args:
        fn: Scores a list of images; returns an object whose ``scores`` and ``maps`` are indexed
            by position (``Inferencer.predict_images``).
        executor: Where ``fn`` runs (one worker thread keeps model calls serial).
        max_batch: Largest batch.
        max_wait_s: How long the first request of a batch waits for company.
    """

    def __init__(self, fn: Callable[[list[np.ndarray]], Any], executor: Executor,
                 max_batch: int = 16, max_wait_s: float = 0.005) -> None:
        self.fn = fn
        self.executor = executor
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self.largest_batch = 0
        self.batches = 0
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start the worker task on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._work())

    async def stop(self) -> None:
        """Cancel the worker task."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def submit(self, image: np.ndarray) -> tuple[float, np.ndarray]:
        """Score one image with the next batch; returns (score, post-processed map)."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not awaited")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((image, future))
        return await future

    async def _gather(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        assert self._queue is not None
        items = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(items) < self.max_batch:
            if not self._queue.empty():
                items.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return items

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._gather()
            live = [(im, f) for im, f in items if not f.cancelled()]
            if not live:
                continue
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(live))
            try:
                pred = await loop.run_in_executor(self.executor, self.fn, [im for im, _ in live])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, f in live:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for k, (_, f) in enumerate(live):
                if not f.done():
                    f.set_result((float(pred.scores[k]), pred.maps[k]))
