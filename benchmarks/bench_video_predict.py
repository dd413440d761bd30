"""Video prediction memory: peak RSS and Python heap peak for two video lengths.

Trains a tiny mmae3d run on synthetic video (or uses ``--run``), writes two synthetic videos of
``--frames`` lengths (``--size`` pixels, mp4v) and runs ``mmae predict`` on each in a fresh process
(``resource.getrusage`` peak RSS is per process), also recording the tracemalloc peak of the Python
side and frames/s. Bounded streaming shows as peaks that do not grow with the video's length.
Prints Markdown table rows for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_video_predict.py [--run RUN] [--frames 500 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np


def write_video(path: Path, frames: int, size: int) -> None:
    """A bright square moving over noise (mp4v)."""
    rng = np.random.default_rng(0)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (size, size))
    for t in range(frames):
        f = rng.integers(60, 90, (size, size, 3), dtype=np.uint8)
        x = (3 * t) % (size - size // 8)
        f[size // 3 : size // 3 + size // 8, x : x + size // 8] = 230
        w.write(f)
    w.release()


def measure(run: Path, video: Path, out: Path) -> dict:
    """Run in a fresh process: predict one video, report peaks and speed."""
    from mmae.inference.inferencer import Inferencer
    from mmae.inference.video_predict import predict_video_inputs

    inferencer = Inferencer.load(run)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t = time.perf_counter()
    frames, _ = predict_video_inputs(inferencer, [video], out, progress=False)
    seconds = time.perf_counter() - t
    heap = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"frames": frames, "rss_mib": peak / 1024, "rss_after_load_mib": before / 1024,
            "heap_mib": heap / 2**20, "fps": frames / seconds}


def train_run(root: Path) -> Path:
    from mmae.cli.main import main
    from mmae.data.synth.video import generate_synthetic_video

    data = generate_synthetic_video(root / "data", seed=0, num_train=2, num_test=1,
                                    train_frames=40, test_frames=20)
    run = root / "run"
    if main(["train", "--data", str(data), "--model", "mmae3d", "--out", str(run),
             "--set", "epochs=1", "--quiet"]) != 0:
        raise SystemExit("training the benchmark run failed")
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a trained video run (default: train a tiny one)")
    ap.add_argument("--frames", type=int, nargs=2, default=[500, 2000])
    ap.add_argument("--size", type=int, default=240, help="frame side in pixels (default 240)")
    ap.add_argument("--child", nargs=3, metavar=("RUN", "VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run, video, out = (Path(p) for p in args.child)
        print(json.dumps(measure(run, video, out)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = args.run or train_run(root)
        rows = []
        for n in args.frames:
            video = root / f"v{n}.mp4"
            write_video(video, n, args.size)
            res = subprocess.run([sys.executable, __file__, "--child", str(run), str(video),
                                  str(root / f"out{n}")], capture_output=True, text=True,
                                 check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"video prediction memory ({args.size}x{args.size} mp4v, mmae3d cpu preset, "
          "one process per video)")
    print("| frames | peak RSS (MiB) | RSS after loading the run (MiB) | Python heap peak (MiB) "
          "| frames/s |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['frames']} | {r['rss_mib']:.1f} | {r['rss_after_load_mib']:.1f} "
              f"| {r['heap_mib']:.2f} | {r['fps']:.0f} |")
    a, b = rows
    print(f"peak RSS ratio {b['frames']}/{a['frames']} frames: {b['rss_mib'] / a['rss_mib']:.3f}"
          f"; Python heap peak ratio: {b['heap_mib'] / a['heap_mib']:.3f}; holding the decoded "
          f"{b['frames']}-frame video would take {b['frames'] * args.size**2 * 3 / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
