"""``mmae serve``: the argparse front end of :mod:`mmae.serve` (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mmae.cli.options import add_max_pixels_option, add_threshold_options, max_pixels_value
from mmae.data.video.limits import DEFAULT_MAX_FRAMES
from mmae.errors import ConfigError

DESCRIPTION = (
    "Serve a trained run over HTTP. GET /health describes the run; POST /predict takes a "
    "multipart upload in the form field 'file' (an image for an image run, a video for a video "
    "run) and returns JSON: score, anomalous, threshold (image; ?heatmap=1 adds a base64 PNG "
    "heatmap) or per-frame scores, anomalous and threshold (video). The scores and threshold are "
    "those of `mmae predict` (same --threshold / --threshold-rule). Concurrent requests are "
    "scored in batches. Uploads are bounded: over --max-bytes, --max-pixels (image or video "
    "frame, read from the header before decoding) or --max-frames the answer is 413; at most "
    "--decode-workers uploads are decoded at once, straight to the model's size, and beyond "
    "--max-queue waiting requests the answer is 503 with Retry-After; /health answers "
    "throughout. Needs pip install 'mmae[serve]'.")


def add_serve_parser(subparsers: argparse._SubParsersAction,
                     common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``serve`` verb to the ``mmae`` parser."""
    p = subparsers.add_parser("serve", help="serve a trained run over HTTP (/health, /predict)",
                              description=DESCRIPTION)
    p.add_argument("--run", required=True, help="run folder written by `mmae train`")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_threshold_options(p)
    p.add_argument("--max-bytes", type=int, default=20_000_000,
                   help="largest accepted upload in bytes (default 20000000)")
    p.add_argument("--max-batch", type=int, default=16,
                   help="most concurrent image requests scored in one batch (default 16)")
    p.add_argument("--batch-wait-ms", type=float, default=5.0,
                   help="how long a request waits for others to join its batch (default 5)")
    add_max_pixels_option(p)
    p.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES, metavar="N",
                   help="most frames of an uploaded video (video run; from the container's "
                        f"header, then as decoded; default {DEFAULT_MAX_FRAMES}); 0: no limit")
    p.add_argument("--decode-workers", type=int, default=None, metavar="N",
                   help="uploads decoded at the same time (default: the CPUs, at most 4); each "
                        "needs up to about 7 bytes per pixel of --max-pixels while it decodes")
    p.add_argument("--max-queue", type=int, default=16, metavar="N",
                   help="requests that may wait beyond those being decoded (default 16); more "
                        "get 503 with a Retry-After header")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: the run's)")
    common(p)


def cmd_serve(args: argparse.Namespace) -> int:
    """``mmae serve``."""
    try:
        import uvicorn

        from mmae.serve import create_app
    except ImportError as exc:
        raise ConfigError(f"mmae serve needs its extra: pip install 'mmae[serve]' ({exc.name} "
                          "is missing)") from None
    from mmae.inference.inferencer import Inferencer

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: choose 0 to 65535")
    if args.max_bytes < 1 or args.max_batch < 1 or args.batch_wait_ms < 0:
        raise ConfigError("--max-bytes and --max-batch must be >= 1, --batch-wait-ms >= 0")
    if args.max_frames < 0 or args.max_queue < 0:
        raise ConfigError("--max-frames and --max-queue must be >= 0")
    if args.decode_workers is not None and args.decode_workers < 1:
        raise ConfigError(f"--decode-workers {args.decode_workers}: choose 1 or more")
    max_pixels = max_pixels_value(args.max_pixels)
    inferencer = Inferencer.load(Path(args.run), device=args.device, threshold=args.threshold,
                                 threshold_rule=args.threshold_rule)
    app = create_app(inferencer, max_bytes=args.max_bytes, max_batch=args.max_batch,
                     max_wait_ms=args.batch_wait_ms, max_pixels=max_pixels,
                     max_frames=args.max_frames or None, decode_workers=args.decode_workers,
                     max_queue=args.max_queue)
    uvicorn.run(app, host=args.host, port=args.port,
                log_level="warning" if args.quiet else "info")
    return 0
