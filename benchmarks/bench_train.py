"""Training-loop overhead: ``mmae.training.train.train`` against a bare forward/backward/step.

For each case (a preset of the ``mmae`` image model, optionally at another image size) a worker
process builds one synthetic category in memory and measures, alternately:

* **bare**: forward, loss, ``zero_grad``, backward and Adam step on batches that are already float
  tensors in memory (same model, batch size, optimiser, number of steps and images);
* **loop**: ``train(cfg, run, progress=True, dataset=...)`` with the progress bar writing to a null
  stream, so data loading, logging, checkpointing and progress are included; model construction
  and the post-training threshold calibration are timed separately and left out.

The fraction ``loop samples/s / bare samples/s`` and the overhead ``loop time / bare time - 1`` use
the best of ``--repeats`` alternating runs (the machine may be shared). The worker also measures
the machine's float32 matmul peak (best of 1024x1024 products) and the bare step's GFLOP/s
(``torch.utils.flop_counter``). ``--baseline SRC`` measures a second source tree (e.g. an older
checkout's ``src``) in the same run, interleaved, so before and after are comparable.

    .venv/bin/python benchmarks/bench_train.py                  # cpu, cpu@128, paper (minutes)
    .venv/bin/python benchmarks/bench_train.py --cases cpu --no-write    # a look
    .venv/bin/python benchmarks/bench_train.py --quick                   # seconds (the test)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SECTION = "## Training loop overhead"
# case -> (preset, image size or None for the preset's, images, epochs, runs per worker, most
# workers per tree); 160 images is the size of a synthetic category's training set
CASES = {
    "cpu": ("cpu", None, 160, 2, 3, 99),
    "cpu@128": ("cpu", 128, 160, 2, 3, 99),
    "paper": ("paper", None, 128, 1, 1, 1),
    "paper@128": ("paper", 128, 128, 1, 2, 1),
    "quick": ("cpu", 32, 16, 1, 1, 1),  # --quick: seconds, for the test
}


def matmul_peak_gflops(repeats: int = 20, n: int = 1024) -> float:
    """Best float32 GFLOP/s of ``repeats`` n x n matrix products."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _worker(case: str, data: str, repeats: int) -> dict:
    """Measure one case in this process (the ``mmae`` on ``sys.path`` is the one measured)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import mmae.training.train as tr
    from mmae.config import parse_set, resolve_config
    from mmae.data.image import open_image_dataset
    from mmae.tasks.base import Task
    from mmae.training.seed import seed_everything

    preset, size, _, epochs, _, _ = CASES[case]
    # the default checkpoint cadence (every save_every_s = 600 s, and at the end)
    sets = [f"epochs={epochs}"] + ([f"image_size={size}"] if size else [])
    cfg = resolve_config("mmae", preset, parse_set(sets), data=data)
    ds = open_image_dataset(data, "train", image_size=cfg.image_size, progress=False)
    cfg.channels = ds.channels
    bs, n = cfg.batch_size, len(ds)
    batches = [ds.images[i : i + bs].float().div(255.0) for i in range(0, n, bs)] * epochs

    def bare() -> float:
        seed_everything(cfg.seed)
        model = tr.build_model(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        for x in batches:
            out = model(x)
            loss = model.loss(x, out)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    timed = {"build_model": [0.0, 0.0], "calibrate": [0.0, 0.0]}

    def timing(name: str, owner: object):
        fn = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                timed[name][0] += time.perf_counter() - t0
                timed[name][1] += time.process_time() - c0
        return wrapper

    # model construction and the threshold calibration (a method of the run's task) are left out
    tr.build_model = timing("build_model", tr)
    Task.calibrate = timing("calibrate", Task)

    def loop() -> float:
        for k in timed:
            timed[k] = [0.0, 0.0]
        with tempfile.TemporaryDirectory() as run, contextlib.redirect_stderr(io.StringIO()):
            t0, c0 = time.perf_counter(), time.process_time()
            tr.train(cfg, Path(run), progress=True, dataset=ds)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return wall - sum(t[0] for t in timed.values()), cpu - sum(t[1] for t in timed.values())

    saved = batches  # warm-up: first-call allocations and kernel setup
    batches = saved[:1]
    bare()
    batches = saved
    bare_s, loop_s, bare_cpu, loop_cpu = [], [], [], []
    for i in range(repeats):  # order bare-loop, loop-bare, ...: no side always runs first
        order = ((bare_s, bare_cpu, bare), (loop_s, loop_cpu, loop))
        for times, cpus, fn in order[:: 1 if i % 2 == 0 else -1]:
            wall, cpu = fn()
            times.append(wall)
            cpus.append(cpu)
    model = tr.build_model(cfg)
    with FlopCounterMode(display=False) as fc:
        x = batches[0]
        model.loss(x, model(x))["loss"].backward()
    samples = n * epochs
    return {"case": case, "image_size": cfg.image_size, "num_scales": cfg.model_args.get(
        "num_scales"), "batch_size": bs, "images": n, "epochs": epochs, "steps": len(batches),
        "bare_s": min(bare_s), "loop_s": min(loop_s), "bare_all": bare_s, "loop_all": loop_s,
        "bare_cpu_s": min(bare_cpu), "loop_cpu_s": min(loop_cpu),
        "bare_samples_per_s": samples / min(bare_s), "loop_samples_per_s": samples / min(loop_s),
        "step_gflop": fc.get_total_flops() / 1e9, "matmul_peak_gflops": matmul_peak_gflops(),
        "threads": torch.get_num_threads()}


def _make_data(root: Path, image_size: int, n_images: int) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from mmae.data.synth.image import generate_synthetic_images

    folder = generate_synthetic_images(root, seed=0, categories=["disc"], image_size=image_size,
                                       n_train=n_images, n_test=2)[0]
    return str(folder)


def _run_worker(src: str, case: str, data: str, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.run([sys.executable, __file__, "--worker", case, "--data", data,
                           "--repeats", str(repeats)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {case} ({src}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _row(label: str, r: dict) -> str:
    frac = r["loop_samples_per_s"] / r["bare_samples_per_s"]
    over = r["loop_s"] / r["bare_s"] - 1
    step_gflops = r["step_gflop"] * r["steps"] / r["bare_s"]
    return (f"| {r['case']} | {label} | {r['image_size']} | {r['num_scales']} | "
            f"{r['batch_size']} | {r['steps']} | {r['bare_samples_per_s']:.1f} | "
            f"{r['loop_samples_per_s']:.1f} | {frac:.3f} | {100 * over:+.1f}% | "
            f"{100 * r['pair_median']:+.1f}% | "
            f"{100 * (r['loop_cpu_s'] / r['bare_cpu_s'] - 1):+.1f}% | "
            f"{step_gflops:.1f} | {r['matmul_peak_gflops']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="cpu,cpu@128,paper",
                        help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=2,
                        help="worker processes per case and source tree (interleaved)")
    parser.add_argument("--baseline", default=None,
                        help="another source tree (a checkout's src) to measure in the same run")
    parser.add_argument("--baseline-label", default="before")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true",
                        help="one tiny case, one run, BENCHMARKS.md left alone (seconds)")
    parser.add_argument("--out", default=None, help="also write the rows' results as JSON here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.data, args.repeats)))
        return

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import cpu_model, write_section

    if args.quick:
        args.cases, args.repeats, args.no_write = "quick", 1, True
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    trees = [("after" if args.baseline else "this tree", str(ROOT / "src"))]
    if args.baseline:
        trees.insert(0, (args.baseline_label, str(Path(args.baseline).resolve())))
    rows, measured = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            preset, size, n_images, _, inner, most = CASES[case]
            png = size or {"cpu": 64, "paper": 256}[preset]
            data = _make_data(Path(tmp) / case, png, n_images)
            results = {label: [] for label, _ in trees}
            for _ in range(min(args.repeats, most)):  # interleaved: same conditions for both
                for label, src in trees:
                    results[label].append(_run_worker(src, case, data, inner))
            for label, _ in trees:
                runs = results[label]
                best = dict(runs[0])
                best["bare_s"] = min(r["bare_s"] for r in runs)
                best["loop_s"] = min(r["loop_s"] for r in runs)
                pairs = [lo / ba - 1 for r in runs
                         for ba, lo in zip(r["bare_all"], r["loop_all"], strict=True)]
                best["pair_median"] = statistics.median(pairs)
                best["bare_cpu_s"] = min(r["bare_cpu_s"] for r in runs)
                best["loop_cpu_s"] = min(r["loop_cpu_s"] for r in runs)
                best["matmul_peak_gflops"] = max(r["matmul_peak_gflops"] for r in runs)
                samples = best["images"] * best["epochs"]
                best["bare_samples_per_s"] = samples / best["bare_s"]
                best["loop_samples_per_s"] = samples / best["loop_s"]
                rows.append(_row(label, best))
                measured.append({"code": label, **best,
                                 "fraction": best["loop_samples_per_s"]
                                 / best["bare_samples_per_s"]})
                print(rows[-1], flush=True)

    command = "benchmarks/bench_train.py" + "".join(
        f" {a}" for a in sys.argv[1:] if a != "--no-write")
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    text = (
        f"{SECTION}\n\n"
        f"`{command}` on {cpu_model()} (OMP_NUM_THREADS={threads}); synthetic `disc` "
        f"images in memory; best of the alternating runs (cpu cases: 3 x `--repeats`, "
        f"paper@128: 2, paper: 1). *bare*: forward, loss, backward and Adam step on in-memory "
        f"float "
        f"batches; *loop*: `mmae.training.train.train` "
        f"(data, logging, checkpoints at the default cadence: every 600 s and at the end, "
        f"progress bar to a null stream), without model "
        f"construction and the final threshold calibration. *fraction* = loop samples/s / bare "
        f"samples/s; *overhead* = loop time / bare time - 1 (wall clock, best runs); "
        f"*median of pairs*: the median over the adjacent (bare, loop) runs of the same "
        f"quantity (robust to load that changes between runs); *CPU-time overhead*: "
        f"the same with the process's CPU time (all threads; less disturbed by other load on "
        f"the machine, but counting work the loop overlaps, e.g. the checkpoint thread). "
        f"*step GFLOP/s*: the bare step's "
        f"float operations per second, against the matmul peak (best 1024x1024 float32 "
        f"product) measured in the same process.\n\n"
        "| case | code | px | K | batch | steps | bare samples/s | loop samples/s | fraction | "
        "overhead | overhead, median of pairs | CPU-time overhead | step GFLOP/s | "
        "matmul peak GFLOP/s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows) + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(measured, indent=1))
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", SECTION, text)


if __name__ == "__main__":
    main()
