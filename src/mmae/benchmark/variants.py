"""Model variants of a benchmark: ``model[key=value,key=value]`` names and the ``--grid`` product.

A variant is a registered model with some settings fixed, named ``mmae[latent=spatial]`` or
``mmae[fuser=sum,num_scales=3]`` (keys in the order given). ``--grid KEY=V1,V2`` (repeatable)
expands every model that accepts ``KEY`` (:func:`mmae.config.accepts_setting`) into one
variant per value, the cartesian product over several keys; models without the key stay as they
are. Values are read as YAML (``3`` is an integer, ``[8,8]`` a list) and spelled in the name as
typed.
"""

from __future__ import annotations

import itertools
from typing import Any

import yaml

from mmae.config import accepts_setting
from mmae.errors import ConfigError
from mmae.models.registry import get_spec

# Characters a variant name may not hold: it is also a folder name.
_UNSAFE = set('/\\:*?"<>|')


def split_top(text: str) -> list[str]:
    """Split at commas that are not inside brackets: ``"a,b[x=1,y=2]"`` -> ``["a", "b[x=1,y=2]"]``.

    Raises:
        ConfigError: unbalanced brackets.
    """
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"{text!r}: unbalanced brackets")
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ConfigError(f"{text!r}: unbalanced brackets")
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def variant_name(model: str, settings: dict[str, str]) -> str:
    """``("mmae", {"latent": "spatial"})`` -> ``"mmae[latent=spatial]"``; no settings: ``model``."""
    if not settings:
        return model
    return f"{model}[{','.join(f'{k}={v}' for k, v in settings.items())}]"


def parse_variant(name: str) -> tuple[str, dict[str, str]]:
    """``"mmae[latent=spatial,num_scales=3]"`` -> ``("mmae", {"latent": "spatial", ...})``.

    Values stay text (as typed); :func:`variant_settings` reads them. Checks that the model exists
    and accepts every key.

    Raises:
        ConfigError: a malformed name, an unknown model or a setting the model does not take.
    """
    name = name.strip()
    base, bracket, rest = name.partition("[")
    base = base.strip()
    if not bracket:
        get_spec(base)
        return base, {}
    if not rest.endswith("]"):
        raise ConfigError(f"model variant {name!r}: expected model[key=value,key=value]")
    settings: dict[str, str] = {}
    for item in split_top(rest[:-1]):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key or not value:
            raise ConfigError(f"model variant {name!r}: {item!r} is not key=value")
        if key in settings:
            raise ConfigError(f"model variant {name!r}: {key} given twice")
        settings[key] = value
    if not settings:
        raise ConfigError(f"model variant {name!r}: no settings inside the brackets")
    get_spec(base)
    for key in settings:
        if not accepts_setting(base, key):
            raise ConfigError(f"model variant {name!r}: {base} has no setting {key!r} "
                              f"(`mmae train --help-settings --model {base}` lists them)")
    bad = sorted(_UNSAFE & set(name))
    if bad:
        raise ConfigError(f"model variant {name!r}: the characters {''.join(bad)} cannot be in "
                          f"a variant name (it is also a folder name)")
    return base, settings


def variant_settings(name: str) -> dict[str, Any]:
    """The settings a variant fixes, values read as YAML (``{}`` for a plain model)."""
    return {k: _value(v) for k, v in parse_variant(name)[1].items()}


def parse_grid(items: list[str] | None) -> dict[str, list[str]]:
    """``["latent=vector,spatial", "num_scales=1,3"]`` -> ``{"latent": [...], ...}`` (in order).

    Raises:
        ConfigError: an item that is not ``KEY=V1,V2``, or a key given twice.
    """
    grid: dict[str, list[str]] = {}
    for item in items or []:
        key, eq, values = (s.strip() for s in item.partition("="))
        vals = list(dict.fromkeys(split_top(values))) if eq else []
        if not key or not vals:
            raise ConfigError(f"--grid {item!r}: expected KEY=V1,V2")
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice; list every value in one --grid")
        bad = sorted(_UNSAFE & set(key + values))
        if bad:
            raise ConfigError(f"--grid {item!r}: the characters {''.join(bad)} cannot be in a "
                              f"variant name")
        grid[key] = vals
    return grid


def expand_grid(models: list[str], grid: dict[str, list[str]]) -> list[str]:
    """Every model (or variant) times the grid values of the keys it accepts, in order.

    A key a variant already fixes is left as the variant has it. The result has no duplicates.

    Raises:
        ConfigError: a grid key that none of the models accepts.
    """
    out: list[str] = []
    used: set[str] = set()
    for name in models:
        base, fixed = parse_variant(name)
        keys = [k for k in grid if k not in fixed and accepts_setting(base, k)]
        used.update(k for k in grid if accepts_setting(base, k))
        for combo in itertools.product(*(grid[k] for k in keys)):
            out.append(variant_name(base, {**fixed, **dict(zip(keys, combo))}))
    unused = [k for k in grid if k not in used]
    if unused:
        raise ConfigError(f"--grid {unused[0]}: not a setting of any of the models "
                          f"({', '.join(models)})")
    return list(dict.fromkeys(out))
