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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmae._version import __version__
from mmae.benchmark.folder import MANIFEST, MANIFEST_FORMAT, open_benchmark_dir  # noqa: F401
from mmae.benchmark.jobs import CELL_ERROR, run_cells  # noqa: F401
from mmae.benchmark.report import write_benchmark_report
from mmae.benchmark.stats import (
    compare_models,
    resolve_comparisons,
)
from mmae.benchmark.tables import category_group, format_tables
from mmae.benchmark.variants import (
    expand_grid,
    parse_variant,
    split_top,
    variant_name,
    variant_settings,
)
from mmae.config import RunConfig, accepts_setting, resolve_config
from mmae.data import categories as discover_categories
from mmae.errors import ConfigError
from mmae.models.registry import create_model, get_spec, list_models
from mmae.runs import checkpoint as ck
from mmae.tasks import get_task

RESULTS = "results.json"
TABLES = "tables.md"
CELL_DONE = "cell.json"
Key = tuple[str, str, int]  # a cell: (model or variant, category, seed)


@dataclass
class BenchmarkPlan:
    """A validated benchmark: what to run, before anything runs.

    Attributes:
        data: The dataset root (absolute).
        kind: ``"image"`` or ``"video"`` (every model has it).
        models: Model names, in column order.
        categories: Category (dataset) name -> folder, in run order.
        preset: Preset name or YAML file.
        sets: The ``--set`` values as given.
        configs: Model -> resolved config (for the first category; ``data`` differs per cell).
        seeds: The seeds every cell runs with (the ``seed`` run setting).
        grid: The ``--grid`` values as given (key -> values).
        overrides: Model (variant) -> the settings given to ``resolve_config`` for it.
    """

    data: Path
    kind: str
    models: list[str]
    categories: dict[str, Path]
    preset: str
    sets: dict[str, Any]
    configs: dict[str, RunConfig]
    seeds: list[int] = field(default_factory=lambda: [0])
    grid: dict[str, list[str]] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """What identifies this benchmark (``benchmark.json``)."""
        configs = {}
        for m, cfg in self.configs.items():
            d = cfg.to_dict()
            d["data"].pop("path")
            configs[m] = d
        return {"format": MANIFEST_FORMAT, "kind": self.kind, "data": str(self.data),
                "models": self.models, "categories": list(self.categories),
                "seeds": self.seeds, "grid": self.grid, "preset": self.preset,
                "sets": self.sets, "configs": configs}


def parse_names(text: str | list[str] | None, option: str) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (duplicates dropped); a clear error for nothing."""
    items = text if isinstance(text, list) else split_top(text or "")
    names = list(dict.fromkeys(s.strip() for s in items if s.strip()))
    if not names:
        raise ConfigError(f"{option}: expected a comma-separated list of names, got {text!r}")
    return names


def _route_sets(sets: dict[str, Any], models: list[str]) -> dict[str, dict[str, Any]]:
    """Split ``--set`` values per model: shared keys to every model that has them."""
    per: dict[str, dict[str, Any]] = {m: {} for m in models}
    for key, value in sets.items():
        head, dot, rest = key.partition(".")
        if dot and head in per:
            per[head][rest] = value
            continue
        if dot and head in list_models():
            raise ConfigError(f"--set {key}: model {head!r} is not in --models "
                              f"({', '.join(models)})")
        targets = [m for m in models if accepts_setting(m, key)]
        if not targets:
            raise ConfigError(f"--set {key}: not a setting of any of the models "
                              f"({', '.join(models)}); `mmae train --help-settings --model M` "
                              f"lists them")
        for m in targets:
            per[m][key] = value
    return per


def plan_benchmark(data: Path, models: str | list[str],
                   categories: str | list[str] | None = None, preset: str = "cpu",
                   sets: dict[str, Any] | None = None, seeds: list[int] | None = None,
                   grid: dict[str, list[str]] | None = None) -> BenchmarkPlan:
    """Validate everything (models, kinds, categories, settings) before any training.

    Args:
        data: Dataset root (see :func:`discover_categories`).
        models: Registered model names or variants (``mmae[latent=spatial]``), all of one kind
            (a list or ``"a,b,c"``).
        categories: Names to run (a list or ``"x,y"``); ``None`` or ``"all"``: every one found.
        preset: Preset name or YAML file.
        sets: ``--set`` values (``MODEL.key`` for one model only).
        seeds: Seeds to run every cell with; ``None``: the preset's (or ``--set``) seed.
        grid: ``--grid`` values: each model that accepts a key is expanded into variants.

    Raises:
        ConfigError: unknown model, category or setting; models of different kinds.
        DataError: no usable dataset at ``data``.
    """
    models = parse_names(models, "--models")
    try:
        variants = {m: parse_variant(m) for m in models}
    except ConfigError as exc:
        raise ConfigError(f"--models: {exc}") from None
    grid = dict(grid or {})
    models = expand_grid([variant_name(*v) for v in variants.values()], grid)
    bases = list(dict.fromkeys(parse_variant(m)[0] for m in models))
    kinds: dict[str, list[str]] = {}
    for m in models:
        spec = get_spec(parse_variant(m)[0])
        kinds.setdefault(spec.kind, []).append(m)
    if len(kinds) > 1:
        parts = "; ".join(f"{k}: {', '.join(v)}" for k, v in kinds.items())
        raise ConfigError(f"--models mixes image and video models ({parts}); run one benchmark "
                          f"per kind")
    kind = next(iter(kinds))
    data = Path(data).expanduser().resolve()
    found = discover_categories(data, kind)
    names = None if categories is None else parse_names(categories, "--categories")
    if names is None or [c.lower() for c in names] == ["all"]:
        chosen = found
    else:
        unknown = [c for c in names if c not in found]
        if unknown:
            raise ConfigError(f"--categories: no category {', '.join(map(repr, unknown))} in "
                              f"{data}; found: {', '.join(found)} (or 'all')")
        chosen = {c: found[c] for c in names}
    sets = dict(sets or {})
    per_base = _route_sets(sets, bases)
    overrides = {m: {**per_base[parse_variant(m)[0]], **variant_settings(m)} for m in models}
    first = next(iter(chosen.values()))
    configs = {}
    for m in models:
        try:
            configs[m] = resolve_config(parse_variant(m)[0], preset, overrides[m],
                                        data=str(first))
            # a model the settings cannot build fails now, not mid-way
            create_model(configs[m].model, **configs[m].model_kwargs())
        except ConfigError as exc:
            raise ConfigError(f"{m}: {exc}" if "[" in m else str(exc)) from None
    if seeds is not None and "seed" in sets:
        raise ConfigError("--seeds and --set seed: give one of them")
    if seeds is None:
        seeds = [configs[models[0]].seed]
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds:
        raise ConfigError("--seeds: expected a comma-separated list of integers")
    return BenchmarkPlan(data, kind, models, chosen, preset, sets, configs, seeds, grid,
                         overrides)


def environment() -> dict[str, Any]:
    """The machine and software a result was produced on."""
    import numpy
    import torch

    return {"mmae": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def cell_folder(out: Path, model: str, category: str, seed: int) -> Path:
    """``OUT/cells/<category>/<model>/seed<k>``."""
    return Path(out) / "cells" / category / model / f"seed{seed}"


def run_cell(plan: BenchmarkPlan, model: str, category: str, cell: Path,
             seed: int | None = None, device: str | None = None) -> dict[str, Any]:
    """Train and test one (model, category, seed) cell in a fresh folder; returns its record.

    Args:
        plan: The benchmark.
        model: A model or variant name of ``plan.models``.
        category: A category of ``plan.categories``.
        cell: The cell folder (created; must not exist).
        seed: The ``seed`` run setting; ``None``: the config's.
        device: The ``device`` run setting; ``None``: the config's.
    """
    from mmae.tasks.evaluate import run_test
    from mmae.training.train import train

    folder = plan.categories[category]
    overrides = dict(plan.overrides.get(model, {}))
    if seed is not None:
        overrides["seed"] = seed
    if device is not None:
        overrides["device"] = device
    cfg = resolve_config(parse_variant(model)[0], plan.preset, overrides, data=str(folder))
    run = cell / "run"
    run.mkdir(parents=True)
    t0 = time.perf_counter()
    train(cfg, run, progress=False)
    t1 = time.perf_counter()
    metrics = run_test(run, folder, cell / "test", progress=False)
    t2 = time.perf_counter()
    keys = get_task(cfg).metric_keys
    record = {"model": model, "category": category, "group": category_group(category),
              "data": str(folder), **{k: metrics.get(k) for k in keys},
              "train_seconds": round(t1 - t0, 2), "test_seconds": round(t2 - t1, 2),
              "epochs": cfg.epochs, "seed": cfg.seed}
    ck.atomic_write_text(cell / CELL_DONE, json.dumps(record, indent=2))
    return record


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
                    cells.append({**records[k], "status": "done"})
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
