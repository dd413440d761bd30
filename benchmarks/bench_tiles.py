"""Tiles against resizing the whole image: small defects on large images (synthetic ``sheet``).

Writes one synthetic ``sheet`` category (brushed metal, defects of a few pixels whatever the image
size) at ``--side`` px, then trains and tests the ``mmae`` image model (preset ``cpu``, the same
settings and epochs) in each mode:

* ``resize``: every image resized to the model's side (``image_size``), as without tiles;
* ``tiles``: ``tile_size`` x ``tile_size`` tiles at the image's own resolution, overlapping by
  ``tile_overlap``, each resized to ``image_size``; maps stitched back to full resolution;
* ``full`` (with ``--full``): the whole image at its own resolution (``image_size`` = ``--side``),
  no resize and no tiles: what tiles save where the whole image still fits.

It reports AU-PRO (FPR limit 0.3), image and pixel AUROC from ``mmae test``, and the seconds of
training (including the threshold calibration) and of testing, measured in this process, one
mode after the other. Writes the "Tiles for large images" section of BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_tiles.py              # minutes on 2 CPU cores
    .venv/bin/python benchmarks/bench_tiles.py --quick      # seconds: what the test runs
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import cpu_model, write_section  # noqa: E402

SECTION = "## Tiles for large images"
FULL = {"side": 256, "n_train": 40, "n_test": 30, "image_size": 64, "tile_size": 64,
        "tile_overlap": 16, "epochs": 10, "extra": []}
QUICK = {"side": 96, "n_train": 4, "n_test": 4, "image_size": 32, "tile_size": 48,
         "tile_overlap": 16, "epochs": 1,
         "extra": ["widths=[8,8,8]", "latent_dim=8", "memory_size=8", "num_scales=2"]}


def run_mode(mode: str, data: Path, work: Path, p: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train and test one mode; its metrics and the seconds of each phase."""
    from mmae.config import parse_set, resolve_config
    from mmae.tasks.evaluate import run_test
    from mmae.training.train import train

    side = p["side"] if mode == "full" else p["image_size"]
    sets = [f"image_size={side}", f"epochs={p['epochs']}", f"seed={seed}", *p["extra"]]
    if mode == "tiles":
        sets += [f"tile_size={p['tile_size']}", f"tile_overlap={p['tile_overlap']}"]
    cfg = resolve_config("mmae", "cpu", parse_set(sets), data=str(data))
    run = work / mode
    run.mkdir()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        train(cfg, run, progress=False)
    t1 = time.perf_counter()
    metrics = run_test(run, progress=False)
    t2 = time.perf_counter()
    return {"mode": mode, "settings": sets, "au_pro": metrics["au_pro"],
            "image_auroc": metrics["image_auroc"], "pixel_auroc": metrics["pixel_auroc"],
            "train_s": t1 - t0, "test_s": t2 - t1}


def bench(p: dict[str, Any], seed: int = 0, work: Path | None = None,
          modes: tuple[str, ...] = ("resize", "tiles")) -> list[dict[str, Any]]:
    """The modes on one synthetic ``sheet`` category; one result dict per mode."""
    from mmae.data.synth.image import generate_synthetic_images

    with tempfile.TemporaryDirectory(prefix="mmae-bench-tiles-") as tmp:
        root = Path(work or tmp)
        (cat,) = generate_synthetic_images(root / "data", seed=seed, categories=["sheet"],
                                           image_size=p["side"], n_train=p["n_train"],
                                           n_test=p["n_test"])
        runs = root / "runs"
        runs.mkdir()
        return [run_mode(m, cat, runs, p, seed) for m in modes]


def section(results: list[dict[str, Any]], p: dict[str, Any], command: str, threads: int,
            load: float) -> str:
    """The BENCHMARKS.md section."""
    import torch

    from mmae.data.tiles import TileGrid

    per_image = len(TileGrid(p["side"], p["side"], p["tile_size"], p["tile_overlap"]))
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    rows = "".join(
        f"| {r['mode']} | `{' '.join(r['settings'][:1] + r['settings'][3:])}` | "
        f"{r['au_pro']:.3f} | {r['image_auroc']:.3f} | {r['pixel_auroc']:.3f} | "
        f"{r['train_s']:.0f} | {r['test_s']:.1f} |\n" for r in results)
    res, til = results[:2]
    full = results[2:]
    extra = "" if not full else (
        f" The whole image at its own {p['side']} px (no tiles, `image_size={p['side']}`): "
        f"AU-PRO {full[0]['au_pro']:.3f}, image AUROC {full[0]['image_auroc']:.3f}, at "
        f"{full[0]['train_s'] / til['train_s']:.1f}x the training time of tiles.")
    return (
        f"{SECTION}\n\n"
        f"Small defects on large images: the synthetic `sheet` category (brushed metal; faint "
        f"scratches, cracks and specks 1 to 2.5 px wide whatever the image size) at {p['side']} x "
        f"{p['side']} px, {p['n_train']} training and {p['n_test']} test images. The `mmae` "
        f"model (preset `cpu`, {p['epochs']} epochs, `image_size={p['image_size']}`) is trained "
        f"and tested on the whole image resized to {p['image_size']} px, and on "
        f"{p['tile_size']} px tiles at full resolution overlapping by {p['tile_overlap']} px "
        f"(`--set tile_size={p['tile_size']} --set tile_overlap={p['tile_overlap']}`), maps "
        f"stitched back to {p['side']} px ({per_image} tiles per image, so an epoch of tiles is "
        f"{per_image} times as many model inputs). Train time includes the threshold "
        f"calibration; test time is `mmae test` (metrics, report, pictures).\n\n"
        f"* Command: `{command}` (from the repository root, in the project venv)\n"
        f"* Machine: {cpu_model()}, {os.cpu_count()} cores (shared), torch threads {threads}; "
        f"Python {platform.python_version()}, torch {torch.__version__}; load average at start "
        f"{load:.1f}; {date}\n\n"
        f"| mode | settings | AU-PRO | image AUROC | pixel AUROC | train (s) | test (s) |\n"
        f"|---|---|---|---|---|---|---|\n{rows}\n"
        f"**Tiles: AU-PRO {til['au_pro']:.3f} against {res['au_pro']:.3f} for the resized "
        f"image, image AUROC {til['image_auroc']:.3f} against {res['image_auroc']:.3f}; at "
        f"{til['train_s'] / res['train_s']:.1f}x the training time and "
        f"{til['test_s'] / res['test_s']:.1f}x the test time** (one run, seed 0).{extra}\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--full", action="store_true",
                    help="also the whole image at its own resolution (image_size = side)")
    ap.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    p = dict(QUICK if args.quick else FULL)
    if args.epochs:
        p["epochs"] = args.epochs
    load = os.getloadavg()[0]
    results = bench(p, args.seed, modes=("resize", "tiles", *(["full"] if args.full else [])))
    for r in results:
        print(f"{r['mode']:<7} AU-PRO {r['au_pro']:.3f}  image AUROC {r['image_auroc']:.3f}  "
              f"pixel AUROC {r['pixel_auroc']:.3f}  train {r['train_s']:.1f} s  "
              f"test {r['test_s']:.1f} s")
    if not (args.no_write or args.quick):
        command = ".venv/bin/python benchmarks/bench_tiles.py" + "".join(
            f" {a}" for a in sys.argv[1:] if a != "--no-write")
        write_section(ROOT / "BENCHMARKS.md", SECTION, section(results, p, command,
                                                               args.threads, load))
        print("wrote the tiles section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
