"""``mmae serve``: the argparse front end of :mod:`mmae.serve` (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mmae.cli.options import add_threshold_options
from mmae.errors import ConfigError

DESCRIPTION = (
    "Serve a trained run over HTTP. GET /health describes the run; POST /predict takes a "
    "multipart upload in the form field 'file' (an image for an image run, a video for a video "
    "run) and returns JSON: score, anomalous, threshold (image; ?heatmap=1 adds a base64 PNG "
    "heatmap) or per-frame scores, anomalous and threshold (video). The scores and threshold are "
    "those of `mmae predict` (same --threshold / --threshold-rule). Concurrent requests are "
    "scored in batches. Needs pip install 'mmae[serve]'.")


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
    inferencer = Inferencer.load(Path(args.run), device=args.device, threshold=args.threshold,
                                 threshold_rule=args.threshold_rule)
    app = create_app(inferencer, max_bytes=args.max_bytes, max_batch=args.max_batch,
                     max_wait_ms=args.batch_wait_ms)
    uvicorn.run(app, host=args.host, port=args.port,
                log_level="warning" if args.quiet else "info")
    return 0
