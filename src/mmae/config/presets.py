"""Bundled presets (YAML files in ``mmae/presets``) and the parsing of ``--set key=value``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mmae.errors import ConfigError


def list_presets() -> list[str]:
    """Names of the bundled presets."""
    files = resources.files("mmae.presets").iterdir()
    return sorted(p.name[:-5] for p in files if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw YAML of a bundled preset, or of a YAML file given by path.

    Raises:
        ConfigError: unknown preset, missing file or invalid YAML.
    """
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"preset file {name} does not exist")
        text = path.read_text()
    else:
        if name not in list_presets():
            choices = ", ".join(list_presets())
            raise ConfigError(f"unknown preset {name!r}; choose one of: {choices}")
        text = resources.files("mmae.presets").joinpath(f"{name}.yaml").read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"preset {name}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"preset {name}: expected a mapping at the top level")
    return data


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """Parse ``["key=value", ...]``; values are YAML (``3``, ``1e-4``, ``true``, ``[1,2]``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        try:
            out[key] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key] = value
    return out
