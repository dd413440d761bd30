"""GPU training throughput: the bare step and the training loop of every model, against the chip.

Measures, in one process on one device (CUDA when available, else the CPU, slower):

* the **matmul peak**: best of large bf16 products on CUDA (float32 on the CPU), TFLOP/s;
* per model (``mmae``, ``memae``, ``ae``, ``ssim_ae``, ``vae`` at the ``paper`` preset;
  ``mmae3d``, ``memae3d``, ``ae3d`` at the ``paper`` video preset) and per speed setting
  (``channels_last`` off / on for 2D models; ``compile`` off / on for ``--compile-models``):
  - **bare**: forward, loss, backward and Adam on a batch already on the device (bf16 autocast
    as ``amp: auto`` does), ``--steps`` timed steps after ``--warmup`` steps;
  - **loop**: ``mmae.training.train.train`` on a synthetic dataset of ``--loop-steps`` batches per
    epoch, ``--loop-epochs`` epochs; its samples/s is the median of the log's epochs after the
    first (model construction, compilation and threshold calibration are left out);
  - samples/s, TFLOP/s (``torch.utils.flop_counter`` of one forward and backward pass),
    % of the matmul peak, peak GPU memory (MiB; null on the CPU), loop / bare;
* the **projection**: hours for the paper's budgets at the measured loop speed, Table 1
  (MVTec AD: 3,629 training images x 2000 epochs per image model) and Table 2 (UCSD Ped2 16
  videos / 2,550 frames, Avenue 16 / 15,328, ShanghaiTech 330 / 274,515; clips of 16 frames at
  stride 1, 100 epochs per video model), with the default settings and with the fastest.

    python benchmarks/bench_gpu.py --out bench_gpu.json            # one GPU, a few minutes
    python benchmarks/bench_gpu.py --out gpu.json --write          # and BENCHMARKS.md's table
    python benchmarks/bench_gpu.py --quick --out /tmp/q.json       # seconds, on the CPU too
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from mmae.config import resolve_config  # noqa: E402
from mmae.device import setup_runtime  # noqa: E402
from mmae.models.registry import get_spec  # noqa: E402
from mmae.training.step import TrainStep, make_optimizer  # noqa: E402

SECTION = "## GPU training throughput"
IMAGE_MODELS = ("mmae", "memae", "ae", "ssim_ae", "vae")
VIDEO_MODELS = ("mmae3d", "memae3d", "ae3d")
# Dataset sizes (training split) of the paper's tables.
MVTEC_TRAIN_IMAGES = 3629
VIDEO_TRAIN = {"ped2": (16, 2550), "avenue": (16, 15328), "shanghaitech": (330, 274515)}
QUICK = {"models": "mmae,ae3d", "profile": "ae3d", "steps": 2, "warmup": 1, "loop_steps": 2,
         "loop_epochs": 2, "preset": "cpu",
         "sets": {"image_size": 32, "clip_length": 8, "batch_size": 4, "widths": [8, 8, 8]}}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, quick: bool = False) -> tuple[float, str]:
    """Best TFLOP/s of square matrix products: bf16 on CUDA, float32 on the CPU."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    n = 256 if quick else n
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(3 if quick else 20):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(5):
            torch.mm(a, b)
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / 5)
    return 2 * n**3 / best / 1e12, str(dtype).replace("torch.", "")


def _peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _config(model: str, preset: str, sets: dict[str, Any], data: str = "") -> Any:
    return resolve_config(model, preset, {k: v for k, v in sets.items()
                                          if _accepts(model, k)}, data=data)


def _accepts(model: str, key: str) -> bool:
    from mmae.config import accepts_setting

    return accepts_setting(model, key)


def _input(cfg: Any, device: torch.device, g: torch.Generator) -> torch.Tensor:
    b, s = cfg.batch_size, cfg.image_size
    if cfg.kind == "image":
        return torch.rand(b, cfg.channels or 3, s, s, generator=g).to(device)
    return (torch.rand(b, 1, cfg.clip_length, s, s, generator=g) * 2 - 1).to(device)


def step_gflop(cfg: Any, device: torch.device) -> float:
    """GFLOP of one forward and backward pass (FlopCounterMode) at the config's batch."""
    from torch.utils.flop_counter import FlopCounterMode

    rt = setup_runtime(str(device), cfg.amp)
    model = _model(cfg).to(device)
    x = _input(cfg, device, torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as fc, rt.autocast():
        model.loss(x, model(x))["loss"].backward()
    return fc.get_total_flops() / 1e9


def _model(cfg: Any) -> torch.nn.Module:
    from mmae.training.train import build_model

    return build_model(cfg)


def _bare_step(cfg: Any, device: torch.device) -> tuple[Any, Any, Any, TrainStep, torch.Tensor]:
    """The runtime, the model in training mode, its optimiser and step, one prepared batch."""
    torch.manual_seed(cfg.seed)
    rt = setup_runtime(str(device), cfg.amp)
    model = _model(cfg).to(device)
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay, device)
    step = TrainStep(model, model, opt, rt, 0.0, cfg.compile, cfg.channels_last)
    x = step.prepare(_input(cfg, device, torch.Generator().manual_seed(0)))
    model.train()
    return rt, model, opt, step, x


def bare(cfg: Any, device: torch.device, steps: int, warmup: int) -> dict[str, Any]:
    """Forward, loss, backward, Adam on one batch already on the device (``cfg``'s speed
    settings and amp)."""
    rt, model, opt, step, x = _bare_step(cfg, device)
    _reset_peak(device)

    def one() -> None:
        with rt.autocast():
            _, losses = step.forward_loss(x)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(warmup):
        one()
    _sync(device)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    _sync(device)
    seconds = time.perf_counter() - t0
    return {"samples_per_s": steps * cfg.batch_size / seconds,
            "step_ms": 1000 * seconds / steps, "warmup_s": round(warm_s, 2),
            "peak_memory_mb": _peak_mb(device)}


def loop(cfg: Any, device: torch.device, data: Any, epochs: int) -> dict[str, Any]:
    """``train()`` for ``epochs`` epochs; the median samples/s of the epochs after the first."""
    from mmae.training.train import train

    cfg = dataclasses.replace(cfg, epochs=epochs, device=str(device), val_fraction=0.0)
    _reset_peak(device)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        run = Path(tmp) / "run"
        run.mkdir()
        train(cfg, run, progress=False, dataset=data)
        log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    rates = [r["samples_per_s"] for r in log[1:]] or [log[0]["samples_per_s"]]
    return {"samples_per_s": statistics.median(rates), "epochs": epochs,
            "peak_memory_mb": _peak_mb(device)}


_COMPUTE = ("conv", "gemm", "matmul", "mm", "cudnn", "cutlass", "xmma", "sm80", "sm90", "wgrad",
            "dgrad", "fprop")


def profile(cfg: Any, device: torch.device, steps: int = 5, top: int = 25) -> dict[str, Any]:
    """Where a bare step's time goes (torch.profiler): the top operators / kernels by self time
    on the device, and the share in matmul / convolution kernels (the rest is elementwise,
    reduction and copy work, memory-bound)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    rt, model, opt, step, x = _bare_step(cfg, device)
    for _ in range(2):
        step(x)
    _sync(device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=acts) as prof:
        for _ in range(steps):
            step(x)
        _sync(device)
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, attr, 0) > 0]
    if device.type == "cuda":  # kernels only: events that ran on the device
        events = [e for e in events if getattr(e, "device_type", None) is not None
                  and "CUDA" in str(e.device_type)] or events
    total = sum(getattr(e, attr) for e in events) or 1.0
    compute = sum(getattr(e, attr) for e in events
                  if any(k in e.key.lower() for k in _COMPUTE))
    events.sort(key=lambda e: -getattr(e, attr))
    return {"model": cfg.model, "steps": steps, "device_ms_per_step": total / 1e3 / steps,
            "matmul_conv_share": compute / total,
            "top": [{"name": e.key[:120], "calls": e.count,
                     "ms_per_step": getattr(e, attr) / 1e3 / steps,
                     "share": getattr(e, attr) / total} for e in events[:top]]}


def _datasets(tmp: Path, image_cfg: Any, video_cfg: Any, loop_steps: int,
              kinds: set[str]) -> dict[str, Any]:
    """A synthetic image dataset (in memory) and a synthetic video folder, ``loop_steps``
    batches per epoch each."""
    out: dict[str, Any] = {}
    if "image" in kinds:
        from mmae.data.image import open_image_dataset
        from mmae.data.synth.image import generate_synthetic_images

        n = image_cfg.batch_size * loop_steps
        folder = generate_synthetic_images(tmp / "img", seed=0, categories=["disc"],
                                           image_size=image_cfg.image_size, n_train=n,
                                           n_test=2)[0]
        out["image"] = (str(folder), open_image_dataset(folder, "train", image_cfg.image_size,
                                                        progress=False))
    if "video" in kinds:
        from mmae.data.synth.video import generate_synthetic_video

        frames = max(16, video_cfg.batch_size * loop_steps + video_cfg.clip_length - 1)
        s = video_cfg.image_size
        folder = generate_synthetic_video(tmp / "vid", seed=0, frame_size=(s, s), num_train=1,
                                          num_test=1, train_frames=frames,
                                          test_frames=max(16, video_cfg.clip_length))
        out["video"] = (str(folder), None)
    return out


def variants(model: str, compile_models: set[str], modes: list[str]) -> list[tuple[str, str]]:
    """``(compile, channels_last)`` settings measured for a model."""
    cls = ["off", "on"] if get_spec(model).kind == "image" else ["off"]
    compiles = ["off"] + (modes if model in compile_models else [])
    return [(c, cl) for c in compiles for cl in cls]


def projection(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Hours for the paper's Table 1 and Table 2 budgets at the measured loop speeds."""
    def speeds(model: str) -> tuple[float | None, float | None]:
        mine = [r for r in rows if r["model"] == model and r.get("loop")]
        default = next((r["loop"]["samples_per_s"] for r in mine
                        if r["compile"] == "off" and r["channels_last"] == "off"), None)
        best = max((r["loop"]["samples_per_s"] for r in mine), default=None)
        return default, best

    def hours(samples: float, rate: float | None) -> float | None:
        return None if not rate else round(samples / rate / 3600, 3)

    out: dict[str, Any] = {"table1": {}, "table2": {}}
    for model in IMAGE_MODELS:
        d, b = speeds(model)
        samples = MVTEC_TRAIN_IMAGES * 2000
        out["table1"][model] = {"samples": samples, "hours_default": hours(samples, d),
                                "hours_best": hours(samples, b)}
    for model in VIDEO_MODELS:
        d, b = speeds(model)
        for name, (videos, frames) in VIDEO_TRAIN.items():
            samples = (frames - videos * 15) * 100  # 16-frame clips at stride 1, 100 epochs
            out["table2"][f"{model}/{name}"] = {"samples": samples,
                                                "hours_default": hours(samples, d),
                                                "hours_best": hours(samples, b)}
    for table in ("table1", "table2"):
        cells = list(out[table].values())
        for key in ("hours_default", "hours_best"):
            values = [v[key] for v in cells]
            out[table][f"total_{key}"] = (round(sum(values), 3)
                                          if values and None not in values else None)
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    t_start = time.perf_counter()
    peak, peak_dtype = matmul_peak(device, args.quick)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    compile_models = {m.strip() for m in args.compile_models.split(",") if m.strip()}
    modes = [m.strip() for m in args.compile_modes.split(",") if m.strip()]
    sets = dict(args.sets)
    kinds = {get_spec(m).kind for m in models}
    profile_models = {m.strip() for m in args.profile.split(",") if m.strip()}
    rows: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        image_cfg = _config("mmae", args.preset, sets)
        video_cfg = _config("mmae3d", args.preset, sets)
        data = _datasets(Path(tmp), image_cfg, video_cfg, args.loop_steps, kinds)
        bases: dict[str, tuple[Any, Any, float]] = {}
        for model in models:
            kind = get_spec(model).kind
            path, dataset = data[kind]
            base = _config(model, args.preset, sets, data=path)
            if kind == "image":
                base.channels = dataset.channels
            bases[model] = (base, dataset, step_gflop(base, device))
        # the settings without compile first, compiling (slow) last, within --budget-s
        plan = [(m, c, cl) for m in models for c, cl in variants(m, compile_models, modes)]
        plan.sort(key=lambda t: t[1] != "off")
        done_models: set[str] = set()
        for model, comp, cl in plan:
            base, dataset, gflop = bases[model]
            cfg = dataclasses.replace(base, compile=comp, channels_last=cl)
            row: dict[str, Any] = {
                "model": model, "kind": cfg.kind, "preset": args.preset,
                "image_size": cfg.image_size, "batch_size": cfg.batch_size,
                "clip_length": cfg.clip_length if cfg.kind == "video" else None,
                "compile": comp, "channels_last": cl,
                "amp": "bf16" if device.type == "cuda" else "off", "step_gflop": gflop}
            if comp != "off" and time.perf_counter() - t_start > args.budget_s:
                row["error"] = f"skipped: past --budget-s {args.budget_s:g}"
            else:
                try:
                    row["bare"] = bare(cfg, device, args.steps, args.warmup)
                    row["loop"] = loop(cfg, device, dataset, args.loop_epochs)
                except Exception as exc:  # noqa: BLE001 - one failing setting must not stop all
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            for part in ("bare", "loop"):
                if part in row:
                    tflops = row[part]["samples_per_s"] / cfg.batch_size * gflop / 1e3
                    row[part]["tflops"] = tflops
                    row[part]["pct_of_peak"] = 100 * tflops / peak
            if "bare" in row and "loop" in row:
                row["loop_fraction"] = (row["loop"]["samples_per_s"]
                                        / row["bare"]["samples_per_s"])
            rows.append(row)
            print(_line(row), flush=True)
            if model in profile_models and model not in done_models:
                done_models.add(model)
                try:
                    profiles.append(profile(base, device, steps=2 if args.quick else 5))
                except Exception as exc:  # noqa: BLE001
                    profiles.append({"model": model, "error": f"{type(exc).__name__}: {exc}"})
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from common import cpu_model

        name = cpu_model()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "device": {"type": device.type, "name": name or platform.machine(),
                       "torch": torch.__version__, "cuda": torch.version.cuda,
                       "threads": torch.get_num_threads()},
            "matmul_peak_tflops": peak, "matmul_peak_dtype": peak_dtype,
            "settings": {"preset": args.preset, "steps": args.steps, "warmup": args.warmup,
                         "budget_s": args.budget_s,
                         "loop_steps": args.loop_steps, "loop_epochs": args.loop_epochs,
                         "compile_modes": modes, "sets": sets},
            "results": rows, "projection": projection(rows), "profiles": profiles,
            "seconds": round(time.perf_counter() - t_start, 1)}


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def _line(r: dict[str, Any]) -> str:
    b, lo = r.get("bare", {}), r.get("loop", {})
    return (f"| {r['model']} | {r['image_size']} | {r['batch_size']} | {r['compile']} | "
            f"{r['channels_last']} | {_fmt(b.get('samples_per_s'))} | "
            f"{_fmt(b.get('step_ms'), '.2f')} | {_fmt(b.get('tflops'), '.2f')} | "
            f"{_fmt(b.get('pct_of_peak'))} | {_fmt(b.get('peak_memory_mb'), '.0f')} | "
            f"{_fmt(lo.get('samples_per_s'))} | {_fmt(r.get('loop_fraction'), '.3f')} | "
            f"{r.get('error', '')} |")


def markdown(res: dict[str, Any], command: str) -> str:
    dev = res["device"]
    head = (f"{SECTION}\n\n`{command}` on {dev['name']} ({res['date']}; torch {dev['torch']}, "
            f"CUDA {dev['cuda']}); matmul peak {res['matmul_peak_tflops']:.1f} TFLOP/s "
            f"({res['matmul_peak_dtype']}). *bare*: forward, loss, backward and Adam on a batch "
            f"already on the device; *loop*: `train()` (median epoch samples/s after the "
            f"first); TFLOP/s from the step's counted FLOPs; *fraction* = loop / bare.\n\n"
            "| model | px | batch | compile | channels_last | bare samples/s | bare ms/step | "
            "TFLOP/s | % of peak | peak MiB | loop samples/s | fraction | error |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "\n".join(_line(r) for r in res["results"])
    for prof in res.get("profiles", []):
        if "top" not in prof:
            continue
        body += (f"\n\nProfile of the `{prof['model']}` bare step (default settings): "
                 f"{prof['device_ms_per_step']:.2f} ms of device time per step, "
                 f"{100 * prof['matmul_conv_share']:.0f}% in matmul / convolution kernels; "
                 f"the top ones:\n\n| kernel / operator | calls | ms per step | share |\n"
                 f"|---|---|---|---|\n")
        body += "\n".join(f"| `{t['name'][:80]}` | {t['calls']} | {t['ms_per_step']:.3f} | "
                           f"{100 * t['share']:.1f}% |" for t in prof["top"][:10])
    p = res["projection"]
    proj = (f"\n\nProjected at the measured loop speed (default settings / fastest): "
            f"Table 1 {_fmt(p['table1']['total_hours_default'], '.2f')} / "
            f"{_fmt(p['table1']['total_hours_best'], '.2f')} hours; Table 2 "
            f"{_fmt(p['table2']['total_hours_default'], '.2f')} / "
            f"{_fmt(p['table2']['total_hours_best'], '.2f')} hours on this device (n/a: a model "
            f"not measured).\n")
    return head + body + proj


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="write the results as JSON here")
    parser.add_argument("--models", default=",".join(IMAGE_MODELS + VIDEO_MODELS))
    parser.add_argument("--compile-models", default=None,
                        help="models also measured with compile on (compiling takes a minute "
                             "or more per model and setting); 'all' for every model; default "
                             "mmae (none with --quick)")
    parser.add_argument("--compile-modes", default="on",
                        help="compile settings to measure, e.g. on,max-autotune-no-cudagraphs")
    parser.add_argument("--profile", default="mmae",
                        help="models whose bare step is profiled (torch.profiler: top kernels, "
                             "matmul/conv share); '' for none")
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="start no compile setting after this many seconds (the settings "
                             "without compile run first); default 240")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--steps", type=int, default=20, help="timed bare steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed bare steps first")
    parser.add_argument("--loop-steps", type=int, default=8, help="loop batches per epoch")
    parser.add_argument("--loop-epochs", type=int, default=3)
    parser.add_argument("--cpu", action="store_true", help="measure the CPU even with a GPU")
    parser.add_argument("--quick", action="store_true",
                        help="mmae and ae3d, tiny sizes, a few steps (seconds; the test)")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md's section")
    args = parser.parse_args(argv)
    args.sets = {}
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    if args.compile_models is None:
        args.compile_models = "" if args.quick else "mmae"
    if args.compile_models == "all":
        args.compile_models = ",".join(IMAGE_MODELS + VIDEO_MODELS)
    res = measure(args)
    Path(args.out).write_text(json.dumps(res, indent=1))
    command = "benchmarks/bench_gpu.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write")
    text = markdown(res, command.strip())
    print(text)
    if args.write:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from common import write_section

        write_section(ROOT / "BENCHMARKS.md", SECTION, text)


if __name__ == "__main__":
    main()
