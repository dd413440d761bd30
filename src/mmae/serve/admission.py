"""Admission control of ``mmae serve``: bounded decoding and a bounded queue.

At most ``workers`` uploads are decoded at the same time (a thread pool of that size); at most
``max_queue`` more requests wait (for a decoder, or for the model). A request beyond that is
refused at once, before its upload is parsed, with 503 and a ``Retry-After`` estimated from the
recent decoding times. The event loop itself never decodes, so ``/health`` answers throughout.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: Default number of requests that may wait beyond the decoders.
DEFAULT_MAX_QUEUE = 16


def default_decode_workers() -> int:
    """Uploads decoded at the same time by default: the usable CPUs, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


class Busy(Exception):
    """The service is at its limit; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Admission:
    """Count requests in progress, refuse those beyond the limit, decode in a bounded pool.

    Args:
        workers: Uploads decoded at the same time (>= 1).
        max_queue: Requests that may wait beyond those being decoded (>= 0).

    Attributes ``in_flight`` (admitted, not yet answered), ``peak`` (largest ``in_flight``)
    and ``refused`` (503 answers) describe the load.
    """

    def __init__(self, workers: int, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if workers < 1 or max_queue < 0:
            raise ValueError("workers must be >= 1 and max_queue >= 0")
        self.workers = int(workers)
        self.max_queue = int(max_queue)
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mmae-decode")
        self.in_flight = 0
        self.peak = 0
        self.refused = 0
        self._mean_s = 0.0

    @property
    def limit(self) -> int:
        """Most requests in progress at once."""
        return self.workers + self.max_queue

    def enter(self) -> None:
        """Admit one request, or raise :class:`Busy` (the caller answers 503)."""
        if self.in_flight >= self.limit:
            self.refused += 1
            wait = self.retry_after()
            raise Busy(f"busy: {self.in_flight} requests in progress (limit {self.limit}); "
                       f"retry in {wait} s", wait)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        """The admitted request is answered."""
        self.in_flight = max(0, self.in_flight - 1)

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the queue ahead of a new request, divided
        among the decoders, at the recent mean decoding time (1 to 60)."""
        ahead = max(0, self.in_flight - self.workers) + 1
        return max(1, min(60, math.ceil(ahead * self._mean_s / self.workers)))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the decoding pool (at most ``workers`` at once)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._timed, fn, args)

    def _timed(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            took = time.perf_counter() - start
            self._mean_s = took if self._mean_s == 0 else 0.8 * self._mean_s + 0.2 * took

    def stats(self) -> dict[str, int]:
        """JSON-able load figures for ``/health``."""
        return {"in_flight": self.in_flight, "limit": self.limit,
                "decode_workers": self.workers, "max_queue": self.max_queue,
                "refused": self.refused}

    def shutdown(self) -> None:
        """Stop the decoding pool (running decodes finish)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
