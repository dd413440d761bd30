"""``mmae serve`` latency and throughput against the same model scored directly in-process.

Trains a tiny image run (or uses ``--run``), starts ``mmae serve`` in a subprocess on loopback,
and sends ``--requests`` image uploads from ``--clients`` concurrent clients (httpx). Reports p50 /
p95 latency and requests/s, next to the in-process rate of ``Inferencer.predict_images`` on the
same images one at a time and in batches of ``--clients`` (the served rate as a fraction of each).
Prints Markdown table rows for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_serve.py [--run RUN] [--clients 8] [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_run(root: Path) -> Path:
    from mmae.cli.main import main
    from mmae.data.synth.image import generate_synthetic_images

    cat = generate_synthetic_images(root / "data", seed=0, categories=1, n_train=24,
                                    n_test=12)[0]
    run = root / "run"
    if main(["train", "--data", str(cat), "--model", "mmae", "--out", str(run),
             "--set", "epochs=1", "--quiet"]) != 0:
        raise SystemExit("training the benchmark run failed")
    return run


async def load(port: int, files: list[Path], clients: int, total: int) -> tuple[list[float],
                                                                                   float]:
    payloads = [(f.name, f.read_bytes()) for f in files]
    latencies: list[float] = []
    counter = iter(range(total))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            for i in counter:
                name, data = payloads[i % len(payloads)]
                t = time.perf_counter()
                r = await c.post("/predict", files={"file": (name, data, "image/png")})
                latencies.append(time.perf_counter() - t)
                r.raise_for_status()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - t0


def direct_rate(run: Path, files: list[Path], batch: int, total: int) -> float:
    """Images/s of ``predict_images`` in-process (decoding included, as the service does)."""
    from mmae.data.image_io import read_image
    from mmae.inference.inferencer import Inferencer

    inf = Inferencer.load(run)
    inf.predict_images([read_image(files[0], inf.config.channels)])  # warm-up
    t = time.perf_counter()
    done = 0
    while done < total:
        imgs = [read_image(files[(done + k) % len(files)], inf.config.channels)
                for k in range(batch)]
        inf.predict_images(imgs)
        done += batch
    return done / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a trained image run (default: train a tiny one)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=400)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = args.run or train_run(root)
        from mmae.runs.run import Run

        cfg = Run(run).config()
        files = sorted(Path(cfg.data).rglob("test/**/*.png"))[:32]
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "mmae", "serve", "--run", str(run), "--port", str(port),
             "--quiet"], env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"mmae serve did not start: {server.stderr.read()}")
                time.sleep(0.2)
            asyncio.run(load(port, files, args.clients, 2 * args.clients))  # warm-up
            lat, seconds = asyncio.run(load(port, files, args.clients, args.requests))
        finally:
            server.terminate()
            server.wait(timeout=30)
        one = direct_rate(run, files, 1, args.requests)
        batched = direct_rate(run, files, args.clients, args.requests)
    ms = np.asarray(lat) * 1000
    rate = len(lat) / seconds
    print(f"mmae serve ({cfg.model}, {cfg.image_size} px, cpu preset, {args.clients} concurrent "
          f"clients, {len(lat)} requests, loopback)")
    print("| p50 latency (ms) | p95 latency (ms) | served req/s | direct img/s (batch 1) "
          f"| direct img/s (batch {args.clients}) | served / direct batch 1 "
          f"| served / direct batch {args.clients} |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {np.percentile(ms, 50):.1f} | {np.percentile(ms, 95):.1f} | {rate:.1f} "
          f"| {one:.1f} | {batched:.1f} | {rate / one:.2f} | {rate / batched:.2f} |")


if __name__ == "__main__":
    main()
