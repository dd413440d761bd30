"""``mmae benchmark``: the argparse front end of :mod:`mmae.benchmark.runner`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from mmae.config import parse_set

DESCRIPTION = (
    "Train and test every (model, category, seed) cell with the same preset, data pipeline and "
    "metrics, and write results.json and tables.md (Table 1: AU-PRO, image AUROC, pixel AUROC per "
    "category, textures then objects; Table 2 for video: frame AUC; mean ± std over --seeds; one "
    "section per --compare with a 95% CI). Resumable: run the same command again to skip "
    "finished cells and restart interrupted ones. --out records the benchmark in benchmark.json; "
    "a different benchmark in the same --out is refused unless --overwrite (more --seeds are "
    "allowed: the missing cells are added). Example: mmae benchmark --data data/synth "
    "--models mmae --grid latent=vector,spatial --seeds 0,1,2 "
    "--compare 'mmae[latent=vector],mmae[latent=spatial]' --out runs/study")


def add_benchmark_parser(subparsers: argparse._SubParsersAction,
                         common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``benchmark`` verb to the ``mmae`` parser.

    Args:
        subparsers: The ``mmae`` sub-command action.
        common: Adds the options every verb shares (``--debug``, ``--quiet``).
    """
    p = subparsers.add_parser("benchmark", help="train and test models x categories; paper tables",
                              description=DESCRIPTION)
    p.add_argument("--data", required=True,
                   help="an MVTec AD, MVTec AD 2 or VisA root or category (or a folder of "
                        "good images), or a video "
                        "dataset folder, or a folder of several video datasets")
    p.add_argument("--models", required=True, metavar="A,B,C",
                   help="comma-separated models of one kind, e.g. ae,ssim_ae,vae,memae,mmae or "
                        "ae3d,memae3d,mmae3d (see `mmae models`), or variants such as "
                        "'mmae[latent=spatial,num_scales=3]'")
    p.add_argument("--categories", default="all", metavar="X,Y|all",
                   help="categories (sub-folders of --data) to run; default all")
    p.add_argument("--preset", default="cpu",
                   help="settings preset for every cell: cpu (default), bench-cpu, paper or a "
                        "YAML file")
    p.add_argument("--out", required=True, help="benchmark folder (created, or resumed)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting in every model that has it, or in one model with "
                        "MODEL.KEY=VALUE (e.g. --set epochs=5 --set vae.beta=2); repeatable")
    p.add_argument("--seeds", metavar="0,1,2",
                   help="run every cell once per seed (the seed run setting); tables show "
                        "mean ± std; default: the preset's seed")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="expand every model that has setting KEY into variants named "
                        "model[KEY=V1], model[KEY=V2] (several --grid: every combination); "
                        "variants can also be named in --models and --compare; repeatable")
    p.add_argument("--compare", action="append", default=[], metavar="A,B",
                   help="add the paired difference B - A per category and on the mean, with a "
                        "95%% CI over seeds x categories (paired t); repeatable")
    p.add_argument("--compare-metric", default=None, metavar="KEY",
                   help="metric for --compare: au_pro (default), image_auroc, pixel_auroc; "
                        "video: frame_auc_micro (default), frame_auc_macro")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run up to N cells at once in worker processes (torch threads = CPUs / "
                        "N; worker i on cuda:(i mod GPUs) where there are GPUs, so N > GPUs "
                        "puts several cells on each; results.json records each cell's peak GPU "
                        "memory); default 1")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a different benchmark in --out (the old one is kept as "
                        "<out>.old)")
    common(p)


def cmd_benchmark(args: argparse.Namespace) -> int:
    """``mmae benchmark``: run or resume, print the tables; exit 1 if some cell failed."""
    from mmae.benchmark.runner import RESULTS, TABLES, cell_folder, run_benchmark
    from mmae.benchmark.tables import format_tables
    from mmae.benchmark.variants import parse_grid

    categories = None if args.categories.strip().lower() == "all" else args.categories
    out = Path(args.out)
    results = run_benchmark(Path(args.data), args.models, out, categories=categories,
                            preset=args.preset, sets=parse_set(args.sets),
                            overwrite=args.overwrite, progress=not args.quiet,
                            seeds=parse_seeds(args.seeds), grid=parse_grid(args.grid),
                            compare=args.compare, compare_metric=args.compare_metric,
                            jobs=args.jobs)
    print(format_tables(results), end="")
    print(f"wrote {out / RESULTS} and {out / TABLES} ({results['cell_seconds']:.0f} s of cells)")
    failed = [c for c in results["cells"] if c["status"] == "failed"]
    if failed:
        for c in failed:
            folder = cell_folder(out, c["model"], c["category"], c["seed"])
            tag = f"/seed{c['seed']}" if len(results["benchmark"]["seeds"]) > 1 else ""
            print(f"mmae: cell {c['model']}/{c['category']}{tag} failed: "
                  f"{c['error']} (traceback in {folder / 'error.txt'})", file=sys.stderr)
        print(f"mmae: {len(failed)} of {len(results['cells'])} cells failed; run the same command "
              f"again to retry them", file=sys.stderr)
        return 1
    return 0


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` -> ``[0, 1, 2]``; ``None`` stays ``None`` (the preset's seed).

    Raises:
        ConfigError: not a comma-separated list of integers.
    """
    from mmae.errors import ConfigError

    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers >= 0, e.g. 0,1,2")
    return seeds
