"""A validated benchmark plan: the models (variants), categories, seeds and resolved configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmae.benchmark.folder import MANIFEST_FORMAT
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


