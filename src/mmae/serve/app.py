"""The FastAPI application of ``mmae serve``.

``GET /health`` describes the loaded run. ``POST /predict`` takes a multipart upload in the form
field ``file``: an image for an image run (JSON ``score``, ``anomalous``, ``threshold``; with
``?heatmap=1`` also ``heatmap``, a base64 PNG of the heatmap overlay), a video for a video run
(JSON ``scores``, ``anomalous`` (one per frame; ``null`` where the frame rule gives no score) and
``threshold``). Scores are those of ``mmae predict``. Concurrent image requests are scored in
batches (:class:`~mmae.serve.batcher.Batcher`). Bad requests get a 4xx JSON ``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from mmae._version import __version__
from mmae.data.image_io import read_image
from mmae.errors import DataError
from mmae.inference.inferencer import Inferencer
from mmae.inference.video_predict import VideoSource
from mmae.report import plots
from mmae.serve.batcher import Batcher

DEFAULT_MAX_BYTES = 20_000_000
_GENERIC_TYPES = ("application/octet-stream", "")


class UploadError(Exception):
    """A request the service refuses: HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _read_upload(request: Request, max_bytes: int, accepted: str) -> tuple[str, bytes]:
    """The upload in form field ``file``: (file name, bytes), checked for size and type."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes + 64_000:
        raise UploadError(413, f"upload too large: more than {max_bytes} bytes")
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise UploadError(415, "send the file as multipart/form-data in the form field 'file'")
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise UploadError(422, "missing the multipart file field 'file'")
    part_type = (upload.content_type or "").split(";")[0].strip().lower()
    if not (part_type.startswith(accepted + "/") or part_type in _GENERIC_TYPES):
        raise UploadError(415, f"content type {part_type!r} is not accepted; send {accepted}/* "
                               "or application/octet-stream")
    data = await upload.read(max_bytes + 1)
    name = upload.filename or "upload"
    if len(data) > max_bytes:
        raise UploadError(413, f"{name}: upload too large: more than {max_bytes} bytes")
    if not data:
        raise UploadError(400, f"{name}: file is empty (0 bytes)")
    return name, data


@contextmanager
def _as_file(data: bytes, name: str) -> Iterator[Path]:
    """The upload as a temporary file named like it; a DataError raised while it is read
    becomes a 400 naming the upload (not the temporary file)."""
    suffix = Path(name).suffix.lower()[:8] if Path(name).suffix.isascii() else ""
    with tempfile.TemporaryDirectory() as folder:
        fd, tmp = tempfile.mkstemp(suffix=suffix, dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            yield Path(tmp)
        except DataError as exc:
            raise UploadError(400, str(exc).replace(tmp, name)) from None


def _decode_image(data: bytes, name: str, channels: int) -> np.ndarray:
    """Decode exactly as ``mmae predict`` reads a file (``read_image``)."""
    with _as_file(data, name) as path:
        return read_image(path, channels)


def _heatmap_png(image: np.ndarray, m: np.ndarray) -> str:
    pic = plots.overlay(image.astype(np.float32) / 255, m, 0.0, float(m.max()) or 1.0)
    buf = io.BytesIO()
    Image.fromarray(pic).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _score_video(inferencer: Inferencer, data: bytes, name: str) -> list[float]:
    with _as_file(data, name) as path:
        return [s for _, s in inferencer.predict_frames(VideoSource(name, path, False).frames())]


def create_app(inferencer: Inferencer, max_bytes: int = DEFAULT_MAX_BYTES, max_batch: int = 16,
               max_wait_ms: float = 5.0, model_name: str | None = None) -> FastAPI:
    """The scoring service for one loaded run.

    Args:
        inferencer: The loaded run.
        max_bytes: Largest accepted upload (413 above).
        max_batch: Most image requests scored in one model call.
        max_wait_ms: How long a request waits for others to join its batch.
        model_name: Name reported by ``/health`` (default: the run's model).

    The batcher is ``app.state.batcher`` (its ``largest_batch`` tells how well requests batch).
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmae-model")
    batcher = Batcher(inferencer.predict_images, executor, max_batch, max_wait_ms / 1000)
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
                "threshold_source": inferencer.threshold_source, "version": __version__}

    async def predict_image(request: Request, heatmap: bool) -> dict[str, Any]:
        name, data = await _read_upload(request, max_bytes, "image")
        loop = asyncio.get_running_loop()  # decoding off the event loop (default pool)
        image = await loop.run_in_executor(None, _decode_image, data, name,
                                           inferencer.config.channels)
        score, m = await batcher.submit(image)
        out: dict[str, Any] = {"score": score, "threshold": threshold,
                               "anomalous": None if threshold is None else score >= threshold}
        if heatmap:
            out["heatmap"] = _heatmap_png(image, m)
        return out

    async def predict_video(request: Request, heatmap: bool) -> dict[str, Any]:
        name, data = await _read_upload(request, max_bytes, "video")
        loop = asyncio.get_running_loop()
        scores = await loop.run_in_executor(executor, _score_video, inferencer, data, name)
        clean = [None if math.isnan(s) else s for s in scores]
        flags = [None if s is None or threshold is None else s >= threshold for s in clean]
        return {"scores": clean, "anomalous": flags, "threshold": threshold}

    handlers: dict[str, Callable[[Request, bool], Awaitable[dict[str, Any]]]] = {
        "image": predict_image, "video": predict_video}
    handler = handlers[inferencer.kind]

    @app.post("/predict")
    async def predict(request: Request, heatmap: int = 0) -> JSONResponse:
        try:
            return JSONResponse(await handler(request, bool(heatmap)))
        except UploadError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the service
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    return app
