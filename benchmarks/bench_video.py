"""Video models on synthetic video: training throughput and frame AUC.

For each of mmae3d, memae3d and ae3d with the ``cpu`` preset: train on the synthetic Ped2-layout
dataset (seed 0), test (every frame scored), and report clips/s, the achieved GFLOP/s of a training
step as a fraction of this machine's measured float32 matmul peak (so the number travels between
machines), and micro/macro frame AUC. Writes the ``## Video`` section of BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_video.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_model, write_section  # noqa: E402

from mmae.config import resolve_config
from mmae.data.synth.video import generate_synthetic_video
from mmae.tasks.evaluate import run_test
from mmae.training.train import build_model, train

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mmae3d", "memae3d", "ae3d")
SECTION = "## Video models (synthetic)"


def matmul_peak_gflops(n: int = 1024, reps: int = 20) -> float:
    """Best-of measured float32 matmul rate of this machine (GFLOP/s)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def train_step_flops(cfg) -> float:
    """FLOPs of one training step (forward + backward) for one batch."""
    cfg.channels = 1
    model = build_model(cfg)
    x = torch.rand(cfg.batch_size, 1, cfg.clip_length, cfg.image_size, cfg.image_size) * 2 - 1
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        model.loss(x, out)["loss"].backward()
    return float(counter.get_total_flops())


def main() -> int:
    rows = []
    peak = matmul_peak_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        data = generate_synthetic_video(Path(tmp) / "data", seed=0)
        for name in MODELS:
            cfg = resolve_config(name, "cpu", {"seed": 0}, data=str(data))
            run = Path(tmp) / name
            run.mkdir()
            t0 = time.perf_counter()
            train(cfg, run, progress=False)
            train_s = time.perf_counter() - t0
            log = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]
            clips_s = sum(r["samples_per_s"] for r in log[1:]) / max(len(log) - 1, 1)
            flops = train_step_flops(resolve_config(name, "cpu", {"seed": 0}, data=str(data)))
            achieved = flops / cfg.batch_size * clips_s / 1e9
            m = run_test(run, data, run / "test", progress=False)
            rows.append((name, clips_s, achieved, achieved / peak, train_s,
                         m["frame_auc_micro"], m["frame_auc_macro"]))
            print(rows[-1], flush=True)
    table = ["| model | train clips/s | GFLOP/s | fraction of matmul peak | train time (s) | "
             "frame AUC micro | frame AUC macro |", "|---|---|---|---|---|---|---|"]
    for name, cs, gf, frac, ts, mi, ma in rows:
        table.append(f"| {name} | {cs:.0f} | {gf:.1f} | {frac:.3f} | {ts:.0f} | {mi:.3f} | "
                     f"{ma:.3f} |")
    section = "\n".join([
        SECTION,
        "",
        "Synthetic Ped2 layout, `cpu` preset.",
        "",
        "Command: `.venv/bin/python benchmarks/bench_video.py` "
        f"(machine: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}).",
        f"Measured float32 matmul peak of this machine: {peak:.1f} GFLOP/s (1024x1024, best of "
        "20). Clips of 16 frames at 32x32, clip stride 2 for training, every test frame scored "
        "(mean of all clips covering it), seed 0. Throughput is the mean over epochs 2..N; "
        "GFLOP/s counts forward+backward FLOPs (torch FlopCounterMode).",
        "",
        *table,
        "",
    ])
    write_section(ROOT / "BENCHMARKS.md", SECTION, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
