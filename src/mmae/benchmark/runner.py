"""``mmae benchmark``: every (model, category) cell trained and tested with one budget and metrics.

Layout of a benchmark folder ``OUT``::

    OUT/benchmark.json                 what this benchmark is (see below); written first
    OUT/cells/<category>/<model>/seed<k>/run/  the cell's run folder (checkpoint, config, log)
    OUT/cells/<category>/<model>/seed<k>/test/ its metrics.json, scores.csv, pictures
    OUT/cells/<category>/<model>/seed<k>/cell.json   the cell's metrics and timings; written LAST
    OUT/results.json, OUT/tables.md    every cell, and the paper-layout tables

A cell is one (model, category, seed); ``<model>`` may be a variant such as
``mmae[latent=spatial]`` (:mod:`mmae.benchmark.variants`). Resuming: a cell with
``cell.json`` is finished and skipped; a cell folder without it was interrupted (or failed) and is
deleted and run again from scratch. ``benchmark.json`` records the dataset, the models (variants),
the categories, the seeds, the grid, the preset and ``--set`` values, and every model's resolved
config (so a preset edited in between is noticed); running into an ``OUT`` that records anything
else is an error unless ``overwrite`` (the old folder is then kept as ``OUT.old``), except more
seeds: the missing cells are added.

``--set`` values go to every model that has the setting (run settings go to all);
``MODEL.key=value`` (e.g. ``vae.beta=2``) to one model only.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from mmae._version import __version__
from mmae.benchmark.cell import CELL_DONE, Key, cell_folder, run_cell  # noqa: F401
from mmae.benchmark.folder import MANIFEST, MANIFEST_FORMAT, open_benchmark_dir  # noqa: F401
from mmae.benchmark.jobs import CELL_ERROR, run_cells  # noqa: F401
from mmae.benchmark.plan import BenchmarkPlan, parse_names, plan_benchmark  # noqa: F401
from mmae.benchmark.report import write_benchmark_report
from mmae.benchmark.stats import (
    compare_models,
    resolve_comparisons,
)
from mmae.benchmark.tables import category_group, format_tables
from mmae.errors import ConfigError
from mmae.runs import checkpoint as ck

RESULTS = "results.json"
TABLES = "tables.md"


def environment() -> dict[str, Any]:
    """The machine and software a result was produced on."""
    import numpy
    import torch

    return {"mmae": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _write_results(out: Path, plan: BenchmarkPlan, records: dict[Key, dict],
                   failed: dict[Key, str], wall: float,
                   compare: tuple[list[tuple[str, str]], str] = ([], "au_pro"),
                   report: bool = True) -> dict[str, Any]:
    cells = []
    for c in plan.categories:
        for m in plan.models:
            for s in plan.seeds:
                k = (m, c, s)
                if k in records:
                    # cells finished by an earlier version have no memory record
                    cells.append({"peak_gpu_memory_mb": None, **records[k], "status": "done"})
                else:
                    cells.append({"model": m, "category": c, "group": category_group(c),
                                  "seed": s, "status": "failed" if k in failed else "pending",
                                  **({"error": failed[k]} if k in failed else {})})
    manifest = plan.manifest()
    results = {"benchmark": {k: manifest[k] for k in ("kind", "data", "models", "categories",
                                                      "seeds", "grid", "preset", "sets")},
               "environment": environment(), "cells": cells,
               "comparisons": [compare_models(cells, a, b, compare[1], list(plan.categories))
                               for a, b in compare[0]],
               "cell_seconds": round(sum(r["train_seconds"] + r["test_seconds"]
                                         for r in records.values()), 1),
               "wall_seconds_this_invocation": round(wall, 1)}
    ck.atomic_write_text(out / RESULTS, json.dumps(results, indent=2))
    ck.atomic_write_text(out / TABLES, format_tables(results))
    if report:  # OUT/report.html (tables, a chart, every cell): once at the end, not per cell
        write_benchmark_report(out, results)
    return results


def run_benchmark(data: Path, models: str | list[str], out: Path,
                  categories: str | list[str] | None = None,
                  preset: str = "cpu", sets: dict[str, Any] | None = None,
                  overwrite: bool = False, progress: bool = True,
                  seeds: list[int] | None = None, grid: dict[str, list[str]] | None = None,
                  compare: list[str] | None = None, compare_metric: str | None = None,
                  jobs: int = 1) -> dict[str, Any]:
    """Run (or resume) a benchmark; returns the ``results.json`` dict.

    A cell that raises is recorded as failed (its traceback in the cell's ``error.txt``) and the
    others still run; running the same command again retries it. Ctrl-C stops at once; the
    interrupted cell is restarted cleanly next time.

    Args:
        seeds: Seeds per cell (default: the preset's seed).
        grid: ``--grid`` key -> values (see :mod:`mmae.benchmark.variants`).
        compare: ``--compare`` items, each ``"A,B"``: paired differences B - A with a 95% CI.
        compare_metric: The cell metric compared (default AU-PRO, or frame AUC micro for video).
        jobs: Worker processes (see :mod:`mmae.benchmark.jobs`).
        data, models, out, categories, preset, sets, overwrite, progress: As the CLI options.

    Raises:
        ConfigError, DataError, RunFolderError: before anything is trained.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be a positive integer")
    plan = plan_benchmark(data, models, categories, preset, sets, seeds, grid)
    comparisons = resolve_comparisons(plan.models, plan.kind, compare, compare_metric)
    out = open_benchmark_dir(Path(out), plan.manifest(), overwrite)
    records: dict[Key, dict] = {}
    failed: dict[Key, str] = {}
    todo = []
    for c in plan.categories:
        for m in plan.models:
            for s in plan.seeds:
                cell = cell_folder(out, m, c, s)
                if (cell / CELL_DONE).is_file():
                    records[(m, c, s)] = json.loads((cell / CELL_DONE).read_text())
                    continue
                if cell.exists():  # interrupted or failed before: start it from scratch
                    shutil.rmtree(cell)
                todo.append(((m, c, s), cell))
    bar = tqdm(total=len(records) + len(todo), initial=len(records), desc="benchmark",
               unit="cell", disable=not progress, dynamic_ncols=True)

    def finished(key: Key, outcome: tuple[str, Any]) -> None:
        status, value = outcome
        if status == "done":
            records[key] = value
        else:
            failed[key] = value
        bar.update(1)
        bar.set_postfix_str(f"{key[0]} on {key[1]}, seed {key[2]}")
        _write_results(out, plan, records, failed, time.perf_counter() - t0, comparisons,
                       report=False)

    run_cells(plan, todo, jobs, finished)
    bar.close()
    return _write_results(out, plan, records, failed, time.perf_counter() - t0, comparisons)
