"""The FastAPI application of ``mmae serve``.

``GET /health`` describes the loaded run. ``POST /predict`` takes a multipart upload in the form
field ``file``: an image for an image run (JSON ``score``, ``anomalous``, ``threshold``; with
``?heatmap=1`` also ``heatmap``, a base64 PNG of the heatmap overlay), a video for a video run
(JSON ``scores``, ``anomalous`` (one per frame; ``null`` where the frame rule gives no score) and
``threshold``). Scores are those of ``mmae predict``. Concurrent image requests are scored in
batches (:class:`~mmae.serve.batcher.Batcher`). Bad requests get a 4xx JSON ``{"error": ...}``:
413 for an upload over ``max_bytes``, or an image (a video frame) over ``max_pixels`` pixels, or
a video over ``max_frames`` frames, read from the header before decoding. At most
``decode_workers`` uploads are decoded at once, each straight to the model's size; beyond
``max_queue`` waiting requests the answer is 503 with ``Retry-After``
(:class:`~mmae.serve.admission.Admission`).
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.exceptions import HTTPException

from mmae._version import __version__
from mmae.data.image_decode import DEFAULT_MAX_PIXELS
from mmae.data.video.limits import DEFAULT_MAX_FRAMES
from mmae.inference.inferencer import Inferencer
from mmae.inference.predict import HEATMAP_MAX_SIDE
from mmae.report import plots
from mmae.serve.admission import DEFAULT_MAX_QUEUE, Admission, Busy, default_decode_workers
from mmae.serve.batcher import Batcher
from mmae.serve.uploads import (
    UploadError,
    decode_upload_for,
    drain,
    read_upload,
    score_video_upload,
)

DEFAULT_MAX_BYTES = 20_000_000


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _heatmap_png(image: np.ndarray, m: np.ndarray) -> str:
    pic = plots.overlay(image.astype(np.float32) / 255, m, 0.0, float(m.max()) or 1.0)
    buf = io.BytesIO()
    Image.fromarray(pic).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def create_app(inferencer: Inferencer, max_bytes: int = DEFAULT_MAX_BYTES, max_batch: int = 16,
               max_wait_ms: float = 5.0, model_name: str | None = None,
               max_pixels: int | None = DEFAULT_MAX_PIXELS,
               max_frames: int | None = DEFAULT_MAX_FRAMES, decode_workers: int | None = None,
               max_queue: int = DEFAULT_MAX_QUEUE) -> FastAPI:
    """The scoring service for one loaded run.

    Args:
        inferencer: The loaded run.
        max_bytes: Largest accepted upload (413 above).
        max_batch: Most image requests scored in one model call.
        max_wait_ms: How long a request waits for others to join its batch.
        model_name: Name reported by ``/health`` (default: the run's model).
        max_pixels: Largest image or video frame, width x height (413 above; None: no limit).
        max_frames: Most frames of an uploaded video (413 above; None: no limit).
        decode_workers: Uploads decoded at the same time (default: the CPUs, at most 4).
        max_queue: Requests that may wait beyond those being decoded (503 above).

    The batcher is ``app.state.batcher`` (its ``largest_batch`` tells how well requests batch),
    the admission control ``app.state.admission``.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmae-model")
    batcher = Batcher(inferencer.predict_images, executor, max_batch, max_wait_ms / 1000)
    admission = Admission(decode_workers or default_decode_workers(), max_queue)
    threshold = inferencer.threshold

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="mmae", version=__version__, lifespan=lifespan)
    app.state.batcher = batcher
    app.state.admission = admission
    app.state.inferencer = inferencer

    @app.exception_handler(UploadError)
    async def _upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid request: " + "; ".join(str(e.get("msg")) for e in
                                                          exc.errors()))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name or inferencer.config.model,
                "kind": inferencer.kind, "threshold": threshold,
                "threshold_source": inferencer.threshold_source, "version": __version__,
                "load": admission.stats()}

    async def predict_image(request: Request, heatmap: bool) -> dict[str, Any]:
        name, upload = await read_upload(request, max_bytes, "image")
        dec = await admission.run(decode_upload_for, inferencer, upload, name, max_pixels,
                                  HEATMAP_MAX_SIDE if heatmap else None)
        score, m = await batcher.submit(dec.image)
        out: dict[str, Any] = {"score": score, "threshold": threshold,
                               "anomalous": None if threshold is None else score >= threshold}
        if heatmap and dec.view is not None:
            out["heatmap"] = await admission.run(_heatmap_png, dec.view, m)  # off the loop
        return out

    async def predict_video(request: Request, heatmap: bool) -> dict[str, Any]:
        name, upload = await read_upload(request, max_bytes, "video")
        loop = asyncio.get_running_loop()  # decoding and scoring interleave: the model's thread
        scores = await loop.run_in_executor(executor, score_video_upload, inferencer, upload,
                                            name, max_pixels, max_frames)
        clean = [None if math.isnan(s) else s for s in scores]
        flags = [None if s is None or threshold is None else s >= threshold for s in clean]
        return {"scores": clean, "anomalous": flags, "threshold": threshold}

    handlers: dict[str, Callable[[Request, bool], Awaitable[dict[str, Any]]]] = {
        "image": predict_image, "video": predict_video}
    handler = handlers[inferencer.kind]

    @app.post("/predict")
    async def predict(request: Request, heatmap: int = 0) -> JSONResponse:
        try:
            admission.enter()
        except Busy as exc:
            await drain(request, max_bytes)
            return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
        try:
            return JSONResponse(await handler(request, bool(heatmap)))
        except UploadError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the service
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            admission.leave()

    return app
