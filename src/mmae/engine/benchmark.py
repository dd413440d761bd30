"""``mmae benchmark``: every (model, category) cell trained and tested with one budget and metrics.

Layout of a benchmark folder ``OUT``::

    OUT/benchmark.json                 what this benchmark is (see below); written first
    OUT/cells/<category>/<model>/run/  the cell's run folder (checkpoint, config, log)
    OUT/cells/<category>/<model>/test/ its metrics.json, scores.csv, pictures
    OUT/cells/<category>/<model>/cell.json   the cell's metrics and timings; written LAST
    OUT/results.json, OUT/tables.md    every cell, and the paper-layout tables

Resuming: a cell with ``cell.json`` is finished and skipped; a cell folder without it was
interrupted (or failed) and is deleted and run again from scratch. ``benchmark.json`` records the
dataset, the models, the categories, the preset and ``--set`` values, and every model's resolved
config (so a preset edited in between is noticed); running into an ``OUT`` that records anything
else is an error unless ``overwrite`` (the old folder is then kept as ``OUT.old``).

``--set`` values go to every model that has the setting (run settings go to all);
``MODEL.key=value`` (e.g. ``vae.beta=2``) to one model only.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmae._version import __version__
from mmae.data import categories as discover_categories
from mmae.engine import checkpoint as ck
from mmae.engine.benchmark_tables import category_group, format_tables
from mmae.engine.config import RunConfig, accepts_setting, resolve_config
from mmae.engine.tasks import get_task
from mmae.errors import ConfigError, RunFolderError
from mmae.models.registry import create_model, get_spec, list_models

MANIFEST = "benchmark.json"
RESULTS = "results.json"
TABLES = "tables.md"
CELL_DONE = "cell.json"
CELL_ERROR = "error.txt"
FORMAT = 1


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
    """

    data: Path
    kind: str
    models: list[str]
    categories: dict[str, Path]
    preset: str
    sets: dict[str, Any]
    configs: dict[str, RunConfig]

    def manifest(self) -> dict[str, Any]:
        """What identifies this benchmark (``benchmark.json``)."""
        configs = {}
        for m, cfg in self.configs.items():
            d = cfg.to_dict()
            d["data"].pop("path")
            configs[m] = d
        return {"format": FORMAT, "kind": self.kind, "data": str(self.data),
                "models": self.models, "categories": list(self.categories),
                "preset": self.preset, "sets": self.sets, "configs": configs}


def parse_names(text: str | list[str] | None, option: str) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (duplicates dropped); a clear error for nothing."""
    items = text if isinstance(text, list) else (text or "").split(",")
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
                   sets: dict[str, Any] | None = None) -> BenchmarkPlan:
    """Validate everything (models, kinds, categories, settings) before any training.

    Args:
        data: Dataset root (see :func:`discover_categories`).
        models: Registered model names, all of one kind (a list or ``"a,b,c"``).
        categories: Names to run (a list or ``"x,y"``); ``None`` or ``"all"``: every one found.
        preset: Preset name or YAML file.
        sets: ``--set`` values (``MODEL.key`` for one model only).

    Raises:
        ConfigError: unknown model, category or setting; models of different kinds.
        DataError: no usable dataset at ``data``.
    """
    models = parse_names(models, "--models")
    kinds: dict[str, list[str]] = {}
    for m in models:
        try:
            spec = get_spec(m)
        except ConfigError as exc:
            raise ConfigError(f"--models: {exc}") from None
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
    per_model = _route_sets(sets, models)
    first = next(iter(chosen.values()))
    configs = {m: resolve_config(m, preset, per_model[m], data=str(first)) for m in models}
    for cfg in configs.values():  # a model the settings cannot build fails now, not mid-way
        create_model(cfg.model, **cfg.model_kwargs())
    return BenchmarkPlan(data, kind, models, chosen, preset, sets, configs)


def _diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short description of how two manifests differ."""
    out = []
    for key in ("kind", "data", "models", "categories", "preset", "sets"):
        if old.get(key) != new.get(key):
            out.append(f"{key}: {old.get(key)!r} here, {new.get(key)!r} now")
    for m, cfg in (new.get("configs") or {}).items():
        before = (old.get("configs") or {}).get(m)
        if before is not None and before != cfg:
            keys = sorted(k for k in set(cfg) | set(before) if cfg.get(k) != before.get(k))
            out.append(f"resolved settings of {m} ({', '.join(keys)})")
    return "; ".join(out) or "format"


def open_benchmark_dir(out: Path, manifest: dict[str, Any], overwrite: bool) -> Path:
    """Create ``out`` or reopen it to resume the same benchmark.

    Raises:
        RunFolderError: ``out`` holds something else (another benchmark, other files) and
            ``overwrite`` is False.
    """
    out = Path(out)
    path = out / MANIFEST
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        if not path.is_file():
            raise RunFolderError(f"--out {out} is not empty and holds no {MANIFEST}; choose "
                                 f"another --out or pass --overwrite")
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{path} is unreadable ({exc}); pass --overwrite") from None
        if old != json.loads(json.dumps(manifest)):
            raise RunFolderError(f"--out {out} holds a different benchmark ({_diff(old, manifest)}"
                                 f"); use another --out, or --overwrite to replace it (kept as "
                                 f"{out.name}.old)")
        return out
    ck.prepare_out_dir(out, overwrite, what="benchmark folder")
    ck.atomic_write_text(path, json.dumps(manifest, indent=2))
    return out


def environment() -> dict[str, Any]:
    """The machine and software a result was produced on."""
    import numpy
    import torch

    return {"mmae": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run_cell(plan: BenchmarkPlan, model: str, category: str, cell: Path) -> dict[str, Any]:
    """Train and test one (model, category) cell in a fresh folder; returns its record."""
    from mmae.engine.evaluate import run_test
    from mmae.engine.train import train

    folder = plan.categories[category]
    cfg = resolve_config(model, plan.preset, _route_sets(plan.sets, plan.models)[model],
                         data=str(folder))
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


def _write_results(out: Path, plan: BenchmarkPlan, records: dict[tuple[str, str], dict],
                   failed: dict[tuple[str, str], str], wall: float) -> dict[str, Any]:
    cells = []
    for c in plan.categories:
        for m in plan.models:
            if (m, c) in records:
                cells.append({**records[(m, c)], "status": "done"})
            else:
                cells.append({"model": m, "category": c, "group": category_group(c),
                              "status": "failed" if (m, c) in failed else "pending",
                              **({"error": failed[(m, c)]} if (m, c) in failed else {})})
    manifest = plan.manifest()
    results = {"benchmark": {k: manifest[k] for k in ("kind", "data", "models", "categories",
                                                      "preset", "sets")},
               "environment": environment(), "cells": cells,
               "cell_seconds": round(sum(r["train_seconds"] + r["test_seconds"]
                                         for r in records.values()), 1),
               "wall_seconds_this_invocation": round(wall, 1)}
    ck.atomic_write_text(out / RESULTS, json.dumps(results, indent=2))
    ck.atomic_write_text(out / TABLES, format_tables(results))
    return results


def run_benchmark(data: Path, models: str | list[str], out: Path,
                  categories: str | list[str] | None = None,
                  preset: str = "cpu", sets: dict[str, Any] | None = None,
                  overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a benchmark; returns the ``results.json`` dict.

    A cell that raises is recorded as failed (its traceback in the cell's ``error.txt``) and the
    others still run; running the same command again retries it. Ctrl-C stops at once; the
    interrupted cell is restarted cleanly next time.

    Raises:
        ConfigError, DataError, RunFolderError: before anything is trained.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    plan = plan_benchmark(data, models, categories, preset, sets)
    out = open_benchmark_dir(Path(out), plan.manifest(), overwrite)
    records: dict[tuple[str, str], dict] = {}
    failed: dict[tuple[str, str], str] = {}
    todo = [(m, c) for c in plan.categories for m in plan.models]
    bar = tqdm(total=len(todo), desc="benchmark", unit="cell", disable=not progress,
               dynamic_ncols=True)
    for m, c in todo:
        cell = out / "cells" / c / m
        done = cell / CELL_DONE
        if done.is_file():
            records[(m, c)] = json.loads(done.read_text())
            bar.update(1)
            continue
        bar.set_postfix_str(f"{m} on {c}")
        if cell.exists():  # interrupted or failed before: start that cell from scratch
            shutil.rmtree(cell)
        try:
            records[(m, c)] = run_cell(plan, m, c, cell)
        except Exception as exc:  # noqa: BLE001 - one broken cell must not stop the others
            failed[(m, c)] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            cell.mkdir(parents=True, exist_ok=True)
            (cell / CELL_ERROR).write_text(traceback.format_exc())
        bar.update(1)
        _write_results(out, plan, records, failed, time.perf_counter() - t0)
    bar.close()
    return _write_results(out, plan, records, failed, time.perf_counter() - t0)
