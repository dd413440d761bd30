"""Benchmark mmae.metrics.au_pro against the slow literal reference (one argsort of all pixels).

Builds one MVTec-sized category (default 100 float32 maps of 1024x1024, realistic defect masks:
blobs and scratches, some good images), runs both implementations in the same process, checks
they agree, and reports the speed ratio and ``au_pro``'s peak memory / the maps' own size
(tracemalloc: numpy allocations are traced). Writes the AU-PRO section of BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_aupro.py            # about 2-3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_aupro.py --images 10 --no-write   # quick look
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import cpu_model, write_section  # noqa: E402

from mmae.metrics import au_pro  # noqa: E402

SECTION = "## AU-PRO"


def load_reference():
    """The literal reference lives in the test suite; import it from there (single source)."""
    path = ROOT / "tests" / "test_metrics_aupro_exact.py"
    spec = importlib.util.spec_from_file_location("aupro_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_au_pro


def make_category(n_images: int, size: int, seed: int) -> tuple[list, list]:
    """Realistic masks (blobs, thick scratches; 1 in 4 images good) and smooth float32 maps."""
    rng = np.random.default_rng(seed)
    masks, maps = [], []
    for i in range(n_images):
        mask = np.zeros((size, size), np.uint8)
        if i % 4:
            for _ in range(int(rng.integers(1, 4))):
                c = tuple(int(v) for v in rng.integers(size // 8, size - size // 8, 2))
                if rng.random() < 0.6:
                    axes = tuple(int(v) for v in rng.integers(size // 100 + 1, size // 12, 2))
                    cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
                else:
                    d = rng.integers(-size // 4, size // 4, 2)
                    end = (
                        int(np.clip(c[0] + d[0], 0, size - 1)),
                        int(np.clip(c[1] + d[1], 0, size - 1)),
                    )
                    cv2.line(mask, c, end, 255, int(rng.integers(2, 8)))
        low = rng.random((size // 16, size // 16)).astype(np.float32)
        amap = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
        amap += 0.3 * rng.random((size, size), dtype=np.float32)
        amap += 0.4 * cv2.GaussianBlur((mask > 0).astype(np.float32), (0, 0), 3)
        masks.append(mask)
        maps.append(amap)
    return masks, maps


def timed(fn, *args):
    gc.collect()
    t0 = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - t0


def peak_extra_bytes(fn, *args) -> int:
    """Peak bytes allocated by fn(*args) above what was allocated before the call."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="runs of au_pro (best is kept)")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    reference_au_pro = load_reference()
    masks, maps = make_category(args.images, args.size, args.seed)
    maps_bytes = sum(m.nbytes for m in maps)
    anomalous = sum(int(np.count_nonzero(m)) for m in masks) / sum(m.size for m in masks)
    good = sum(not m.any() for m in masks)
    print(
        f"{args.images} maps {args.size}x{args.size} float32 ({maps_bytes / 2**20:.0f} MiB), "
        f"{good} good images, {100 * anomalous:.2f}% anomalous pixels"
    )

    fast_times = []
    for _ in range(args.repeats):
        fast_value, t = timed(au_pro, masks, maps)
        fast_times.append(t)
    fast_t = min(fast_times)
    print(
        f"au_pro:    {fast_value:.12f} in {fast_t:.2f} s (runs: "
        + ", ".join(f"{t:.2f}" for t in fast_times)
        + ")"
    )
    ref_value, ref_t = timed(reference_au_pro, masks, maps)
    print(f"reference: {ref_value:.12f} in {ref_t:.2f} s")
    diff = abs(fast_value - ref_value)
    print(f"|difference| = {diff:.2e}")
    if diff > 1e-8:
        raise SystemExit("au_pro and the reference disagree by more than 1e-8")

    fast_mem = peak_extra_bytes(au_pro, masks, maps)
    ref_mem = peak_extra_bytes(reference_au_pro, masks, maps)
    speed = ref_t / fast_t
    print(
        f"speed-up: {speed:.1f}x; peak memory / maps size: au_pro {fast_mem / maps_bytes:.2f}, "
        f"reference {ref_mem / maps_bytes:.2f}"
    )

    command = ".venv/bin/python benchmarks/bench_aupro.py" + "".join(
        f" {a}" for a in sys.argv[1:] if a != "--no-write"
    )
    text = (
        f"{SECTION}\n\n"
        f"`mmae.metrics.au_pro` (FPR limit 0.3) against the literal reference of the MVTec AD "
        f"algorithm (`reference_au_pro` in `tests/test_metrics_aupro_exact.py`: one argsort of all "
        f"pixels), same process, same data.\n\n"
        f"* Command: `{command}` (from the repository root, in the project venv)\n"
        f"* Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}; load average at start {load:.1f} (a shared machine: both "
        f"implementations are slowed alike, absolute times vary)\n"
        f"* Data: {args.images} float32 maps of {args.size}x{args.size} "
        f"({maps_bytes / 2**20:.0f} MiB), blob and scratch masks, {good} good images, "
        f"{100 * anomalous:.2f}% anomalous pixels (seed {args.seed})\n\n"
        f"| | time (s) | peak extra memory / maps size |\n|---|---|---|\n"
        f"| `au_pro` (best of {args.repeats}) | {fast_t:.2f} | {fast_mem / maps_bytes:.2f} |\n"
        f"| reference | {ref_t:.2f} | {ref_mem / maps_bytes:.2f} |\n\n"
        f"**Speed ratio: {speed:.1f}x. Peak memory of `au_pro`: {fast_mem / maps_bytes:.2f}x the "
        f"maps' size.** Values: {fast_value:.12f} vs {ref_value:.12f} "
        f"(|difference| {diff:.1e}).\n"
    )
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", SECTION, text)
        print("wrote the AU-PRO section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
