"""The request batcher of ``mmae serve``: batching, per-request results, errors."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

from mmae.serve.batcher import Batcher


def _score_by_mean(images: list[np.ndarray]) -> SimpleNamespace:
    calls.append(len(images))
    return SimpleNamespace(scores=np.array([float(im.mean()) for im in images]),
                           maps=np.stack([im.astype(np.float32) for im in images]))


calls: list[int] = []


def test_concurrent_requests_share_one_call_and_get_their_own_rows():
    calls.clear()

    async def go() -> list[tuple[float, np.ndarray]]:
        with ThreadPoolExecutor(1) as pool:
            b = Batcher(_score_by_mean, pool, max_batch=4, max_wait_s=0.5)
            await b.start()
            images = [np.full((2, 2), k, np.uint8) for k in range(6)]
            out = await asyncio.gather(*(b.submit(im) for im in images))
            await b.stop()
            assert b.largest_batch == 4 and b.batches == 2
            return out

    out = asyncio.run(go())
    assert calls == [4, 2]
    assert [s for s, _ in out] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert all((m == k).all() for k, (_, m) in enumerate(out))


def test_a_failing_batch_fails_its_requests_and_the_worker_continues():
    state = {"fail": True}

    def flaky(images):
        if state.pop("fail", False):
            raise ValueError("boom")
        return _score_by_mean(images)

    async def go() -> float:
        with ThreadPoolExecutor(1) as pool:
            b = Batcher(flaky, pool, max_batch=2, max_wait_s=0.01)
            await b.start()
            with pytest.raises(ValueError, match="boom"):
                await b.submit(np.zeros((2, 2), np.uint8))
            score, _ = await b.submit(np.full((2, 2), 7, np.uint8))
            await b.stop()
            return score

    assert asyncio.run(go()) == 7.0
