"""``mmae serve`` under concurrent large-but-legal uploads: the server's peak memory and latency.

Trains a tiny image run (or uses ``--run``), writes one compressible RGB PNG of ``--side`` x
``--side`` pixels (a few hundred kB for 13,000 px), starts ``mmae serve`` in a subprocess on
127.0.0.1 and sends ``--uploads`` of it at once (one client each), plus ``--oversized`` uploads
over ``--max-pixels`` (a PNG header announcing ``--side + 1000`` px a side, no pixel data), after
one small warm-up request (the memory after it is the start-up memory). While
they run, ``/health`` is polled every 0.25 s. Reports every answer's status, p50 / p95 latency,
the server's peak resident memory (``VmHWM``) above its memory after start-up, the slowest
``/health`` answer and that the service is healthy afterwards. ``--baseline SRC`` serves with the
code in SRC (a ``src`` folder of another checkout) and without the limit flags it may not know.

    .venv/bin/python benchmarks/bench_serve_memory.py --side 13000 --uploads 6 \\
        --max-pixels 170000000 [--baseline BASE/src] [--json out.json]
    .venv/bin/python benchmarks/bench_serve_memory.py --quick      # seconds: what the test runs

Load goes only to 127.0.0.1, bounded in count (``--uploads``) and time (``--timeout``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np

QUICK = {"side": 3000, "uploads": 6, "oversized": 1, "max_pixels": 10_000_000,
         "decode_workers": 1, "max_queue": 2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_run(root: Path) -> Path:
    """A tiny 32 px image run (seconds)."""
    from mmae.cli.main import main
    from mmae.data.synth.image import generate_synthetic_images

    cat = generate_synthetic_images(root / "data", seed=0, categories=1, n_train=12,
                                    n_test=4)[0]
    run = root / "run"
    if main(["train", "--data", str(cat), "--model", "mmae", "--out", str(run), "--quiet",
             "--set", "epochs=1", "--set", "image_size=32", "--set", "num_scales=2",
             "--set", "latent_dim=32"]) != 0:
        raise SystemExit("training the benchmark run failed")
    return run


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bytes(side: int) -> bytes:
    """A side x side RGB PNG that compresses well (a repeating ramp, every row filtered 'Up':
    about 1/330 of its pixels' bytes), written row by row in bounded memory."""
    row = np.empty((side, 3), np.uint8)
    row[:] = (np.arange(side) % 256)[:, None]
    row[::97, 1] = 200
    first = b"\x00" + row.tobytes()
    up = b"\x02" + bytes(3 * side)  # filter Up, zero difference: the row above repeated
    comp = zlib.compressobj(9)
    parts = [comp.compress(first)]
    for _ in range(side - 1):
        parts.append(comp.compress(up))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


def png_header_only(side: int) -> bytes:
    """A PNG whose header announces side x side RGB pixels but that holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def start_server(run: Path, port: int, flags: list[str], src: Path | None,
                 timeout: float) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if src is not None:
        env["PYTHONPATH"] = str(src)
    server = subprocess.Popen([sys.executable, "-m", "mmae", "serve", "--run", str(run),
                               "--port", str(port), "--quiet", *flags], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"mmae serve did not start: {server.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)


async def load(port: int, payloads: list[tuple[str, bytes]],
               timeout: float) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Send every payload at once; poll /health until they are answered."""
    base = f"http://127.0.0.1:{port}"
    health: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=len(payloads) + 1)

    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
        async def one(name: str, data: bytes) -> tuple[int, float]:
            t = time.perf_counter()
            try:
                r = await client.post("/predict", files={"file": (name, data, "image/png")})
                return r.status_code, time.perf_counter() - t
            except httpx.HTTPError:
                return 0, time.perf_counter() - t

        async def poll(done: asyncio.Event) -> None:
            async with httpx.AsyncClient(base_url=base, timeout=timeout) as h:
                while not done.is_set():
                    t = time.perf_counter()
                    try:
                        code = (await h.get("/health")).status_code
                    except httpx.HTTPError:
                        code = 0
                    health.append((code, time.perf_counter() - t))
                    await asyncio.sleep(0.25)

        done = asyncio.Event()
        poller = asyncio.create_task(poll(done))
        answers = await asyncio.wait_for(asyncio.gather(*(one(n, d) for n, d in payloads)),
                                         timeout)
        done.set()
        await poller
    return list(answers), health


def bench(run: Path, side: int, uploads: int, oversized: int, max_pixels: int | None,
          decode_workers: int | None, max_queue: int | None, baseline: Path | None = None,
          timeout: float = 600.0) -> dict[str, Any]:
    """Run the load once; returns the measurements (JSON-able)."""
    big = png_bytes(side)
    over = png_header_only(side + 1000)
    flags: list[str] = []
    if baseline is None:
        for flag, value in (("--max-pixels", max_pixels), ("--decode-workers", decode_workers),
                            ("--max-queue", max_queue)):
            if value is not None:
                flags += [flag, str(value)]
    port = free_port()
    server = start_server(run, port, flags, baseline, timeout=120)
    try:
        warm = httpx.post(f"http://127.0.0.1:{port}/predict", timeout=60,
                          files={"file": ("warm.png", png_bytes(64), "image/png")})
        if warm.status_code != 200:
            raise SystemExit(f"warm-up request failed: {warm.status_code} {warm.text}")
        start = memory_kib(server.pid)  # after the model's first call
        payloads = [(f"over{i}.png", over) for i in range(oversized)]
        payloads += [(f"big{i}.png", big) for i in range(uploads)]
        t0 = time.perf_counter()
        answers, health = asyncio.run(load(port, payloads, timeout))
        wall = time.perf_counter() - t0
        after = httpx.get(f"http://127.0.0.1:{port}/health", timeout=30)
        peak = memory_kib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = np.array([s for _, s in answers]) * 1000
    codes = [c for c, _ in answers]
    return {
        "code": "baseline" if baseline is not None else "this tree", "side": side,
        "upload_bytes": len(big), "uploads": uploads, "oversized": oversized, "flags": flags,
        "codes": {str(c): codes.count(c) for c in sorted(set(codes))},
        "codes_oversized": [c for c, _ in answers[:oversized]],
        "codes_big": [c for c, _ in answers[oversized:]],
        "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
        "wall_s": wall, "rss_start_mib": start["VmRSS"] / 1024,
        "peak_mib": peak["VmHWM"] / 1024, "peak_above_start_mib": (peak["VmHWM"]
                                                                   - start["VmRSS"]) / 1024,
        "health_polls": len(health), "health_ok": all(c == 200 for c, _ in health),
        "health_max_ms": max((s for _, s in health), default=0.0) * 1000,
        "healthy_after": after.status_code == 200 and after.json().get("status") == "ok",
    }


def row(r: dict[str, Any]) -> str:
    codes = ", ".join(f"{n} x {c}" for c, n in r["codes"].items())
    return (f"| {r['code']} | {' '.join(r['flags']) or '(defaults of the time)'} "
            f"| {r['uploads']} + {r['oversized']} | {codes} | {r['p50_ms'] / 1000:.1f} "
            f"| {r['p95_ms'] / 1000:.1f} | {r['rss_start_mib']:.0f} | {r['peak_mib']:.0f} "
            f"| {r['peak_above_start_mib']:.0f} | {r['health_max_ms']:.0f} |")


HEADER = ("| code | server flags | uploads (big + oversized) | answers | p50 latency (s) "
          "| p95 latency (s) | RSS after start (MiB) | peak RSS (MiB) | peak above start (MiB) "
          "| slowest /health (ms) |\n|---|---|---:|---|---:|---:|---:|---:|---:|---:|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a trained image run (default: train a tiny one)")
    ap.add_argument("--side", type=int, default=13000)
    ap.add_argument("--uploads", type=int, default=6)
    ap.add_argument("--oversized", type=int, default=1)
    ap.add_argument("--max-pixels", type=int, default=170_000_000)
    ap.add_argument("--decode-workers", type=int, default=None)
    ap.add_argument("--max-queue", type=int, default=None)
    ap.add_argument("--baseline", type=Path, help="serve with the code in this src folder")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--quick", action="store_true", help="small sizes: seconds")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args()
    opts = {"side": args.side, "uploads": args.uploads, "oversized": args.oversized,
            "max_pixels": args.max_pixels, "decode_workers": args.decode_workers,
            "max_queue": args.max_queue}
    if args.quick:
        opts.update(QUICK)
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train_run(Path(tmp))
        result = bench(run, baseline=args.baseline, timeout=args.timeout, **opts)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(f"mmae serve, {opts['uploads']} concurrent {opts['side']} x {opts['side']} PNG uploads "
          f"({result['upload_bytes']} bytes each) + {opts['oversized']} over --max-pixels, "
          f"loopback, wall {result['wall_s']:.1f} s")
    print(HEADER)
    print(row(result))


if __name__ == "__main__":
    main()
