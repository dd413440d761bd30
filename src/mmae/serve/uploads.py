"""Uploads of ``mmae serve``: reading the multipart field, decoding within the size limits.

An upload stays in Starlette's spooled file (on disk beyond 1 MB) until a decoder takes it; it is
then copied to a temporary file named like it and decoded straight to the model's size
(:func:`~mmae.data.image_decode.decode_for_model`) or streamed frame by frame (video). A
:class:`~mmae.errors.LimitError` becomes 413, another :class:`~mmae.errors.DataError` 400.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import Request
from starlette.datastructures import UploadFile

from mmae.data.image_decode import DecodedImage
from mmae.errors import DataError, LimitError
from mmae.inference.inferencer import Inferencer
from mmae.inference.video_predict import VideoSource

_GENERIC_TYPES = ("application/octet-stream", "")


class UploadError(Exception):
    """A request the service refuses: HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_upload(request: Request, max_bytes: int, accepted: str) -> tuple[str, UploadFile]:
    """The upload in form field ``file``: (file name, spooled upload), checked for size and
    type."""
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
    name = upload.filename or "upload"
    size = upload.size
    if size is None:
        size = upload.file.seek(0, os.SEEK_END)
    if size > max_bytes:
        raise UploadError(413, f"{name}: upload too large: more than {max_bytes} bytes")
    if size == 0:
        raise UploadError(400, f"{name}: file is empty (0 bytes)")
    return name, upload


async def drain(request: Request, max_bytes: int) -> None:
    """Read and drop a request's body (up to ``max_bytes``), so that a refusal sent before the
    upload was read reaches the client instead of a reset connection."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_bytes + 64_000:
            break


@contextmanager
def as_file(upload: UploadFile, name: str) -> Iterator[Path]:
    """The upload as a temporary file named like it. A LimitError raised while it is read
    becomes 413, another DataError 400, both naming the upload (not the temporary file)."""
    suffix = Path(name).suffix.lower()[:8] if Path(name).suffix.isascii() else ""
    with tempfile.TemporaryDirectory() as folder:
        fd, tmp = tempfile.mkstemp(suffix=suffix, dir=folder)
        with os.fdopen(fd, "wb") as fh:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, fh, 1 << 20)
        try:
            yield Path(tmp)
        except LimitError as exc:
            raise UploadError(413, str(exc).replace(tmp, name)) from None
        except DataError as exc:
            raise UploadError(400, str(exc).replace(tmp, name)) from None


def decode_upload_for(inferencer: Inferencer, upload: UploadFile, name: str,
                      max_pixels: int | None, view_side: int | None) -> DecodedImage:
    """Decode as ``mmae predict`` does for this run: at the model's size, or at full
    resolution for a tiled run (:meth:`Inferencer.decode`), header checked first."""
    with as_file(upload, name) as path:
        return inferencer.decode(path, max_pixels, view_side)


def score_video_upload(inferencer: Inferencer, upload: UploadFile, name: str,
                       max_pixels: int | None, max_frames: int | None) -> list[float]:
    """Per-frame scores of an uploaded video; its header is checked before decoding, and each
    frame as it is decoded (pixels per frame, number of frames)."""
    with as_file(upload, name) as path:
        frames = VideoSource(name, path, False).checked_frames(max_pixels, max_frames)
        return [s for _, s in inferencer.predict_frames(frames)]
