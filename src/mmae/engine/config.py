"""Run configuration: presets (YAML files in ``mmae/presets``) plus ``--set key=value`` overrides.

A run is described by one :class:`RunConfig`: the model name, the model's keyword arguments and the
training / evaluation settings. Resolution order: model defaults < preset < ``--set``. The resolved
config is saved as ``config.yaml`` beside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from mmae.errors import ConfigError
from mmae.models.registry import get_spec, model_arguments


@dataclass
class RunConfig:
    """Every setting of a run. Each field is a ``--set`` key (external checks use these names)."""

    model: str = "mmae"
    preset: str = "cpu"
    kind: str = "image"  # "image" or "video", from the model
    # data
    data: str = ""
    image_size: int = 64  # image side (images) or frame side (video); also the model's image_size
    channels: int | None = None  # None = auto (1 if every image is grayscale, else 3)
    video_layout: str = "auto"  # auto | ucsd | avenue | shanghaitech | frames
    label_source: str = "auto"  # video test labels, e.g. avenue_hasan_mat (see README)
    clip_length: int = 16
    clip_stride: int = 1
    test_clip_stride: int = 1
    # optimisation
    epochs: int = 40
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-5
    grad_clip: float = 0.0  # 0 = off
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 | off
    save_every: int = 1  # epochs between checkpoints
    # scoring and evaluation
    smoothing_sigma: float = 0.0  # Gaussian smoothing of anomaly maps (pixels at model resolution)
    score_reduce: str = "max"  # max | mean | topk_mean
    score_topk: float = 0.01  # fraction of pixels for topk_mean
    threshold_percentile: float = 99.0  # of normal training scores
    frame_rule: str = "mean"  # video: mean (every frame) | center (MemAE: clip -> 9th frame)
    fpr_limit: float = 0.3
    eval_batch_size: int = 32
    # model keyword arguments (after preset and --set)
    model_args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (YAML/JSON-able)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"config has unknown keys: {', '.join(unknown)}")
        return cls(**d)

    def model_kwargs(self) -> dict[str, Any]:
        """Arguments for ``create_model``: model_args plus the sizes the data decides."""
        kwargs = dict(self.model_args)
        accepted = model_arguments(self.model)
        if "image_size" in accepted:
            kwargs["image_size"] = self.image_size
        if "in_channels" in accepted and self.channels is not None:
            kwargs["in_channels"] = self.channels
        if "clip_length" in accepted and self.kind == "video":
            kwargs["clip_length"] = self.clip_length
        return kwargs


_CHOICES: dict[str, tuple[str, ...]] = {
    "score_reduce": ("max", "mean", "topk_mean"),
    "amp": ("auto", "bf16", "off"),
    "frame_rule": ("mean", "center"),
    "kind": ("image", "video"),
    "video_layout": ("auto", "ucsd", "avenue", "shanghaitech", "frames"),
}
_POSITIVE = ("image_size", "epochs", "batch_size", "clip_length", "clip_stride",
             "test_clip_stride", "save_every", "eval_batch_size")
_DERIVED = {"kind", "model_args", "model", "preset", "data"}  # not settable with --set


def list_presets() -> list[str]:
    """Names of the bundled presets."""
    files = resources.files("mmae.presets").iterdir()
    return sorted(p.name[:-5] for p in files if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw YAML of a bundled preset, or of a YAML file given by path."""
    if name.endswith((".yaml", ".yml")):
        from pathlib import Path

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


def _coerce(key: str, value: Any, template: Any) -> Any:
    """Convert a --set value to the type of the field's default and range-check it."""
    if value is not None and template is not None and not isinstance(value, type(template)):
        try:
            if isinstance(template, bool):
                raise TypeError
            if isinstance(template, (int, float)) and isinstance(value, str):
                value = float(value)  # YAML reads 1e-4 (no dot) as a string
                if isinstance(template, int) and not value.is_integer():
                    raise TypeError
            if isinstance(template, float) and isinstance(value, int):
                value = float(value)
            elif isinstance(template, int) and isinstance(value, float) and value.is_integer():
                value = int(value)
            elif not isinstance(value, type(template)):
                raise TypeError
        except (TypeError, ValueError):
            kind = {int: "an integer", float: "a number", str: "a string"}.get(
                type(template), type(template).__name__)
            raise ConfigError(f"setting {key}={value!r}: expected {kind}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"setting {key}={value!r}: must be finite")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"setting {key}={value!r}: choose one of {', '.join(_CHOICES[key])}")
    if key in _POSITIVE and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"setting {key}={value!r}: must be a positive integer")
    if key in ("lr", "weight_decay", "smoothing_sigma", "grad_clip") and value < 0:
        raise ConfigError(f"setting {key}={value!r}: must be >= 0")
    if key == "lr" and value == 0:
        raise ConfigError("setting lr=0: must be > 0")
    if key == "threshold_percentile" and not 0 < value <= 100:
        raise ConfigError(f"setting {key}={value!r}: must be in (0, 100]")
    if key == "fpr_limit" and not 0 < value <= 1:
        raise ConfigError(f"setting {key}={value!r}: must be in (0, 1]")
    if key == "channels" and value not in (None, 1, 3):
        raise ConfigError(f"setting channels={value!r}: must be 1 or 3")
    return value


def _apply(cfg: RunConfig, values: dict[str, Any], source: str, strict: bool) -> None:
    """Apply settings to ``cfg``: run fields first, else model arguments."""
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    margs = model_arguments(cfg.model)
    for key, value in values.items():
        mkey = key[len("model."):] if key.startswith("model.") else None
        if mkey is None and key in fields and key not in _DERIVED:
            template = getattr(RunConfig(), key)
            setattr(cfg, key, _coerce(key, value, template))
        elif (mkey or key) in margs:
            name = mkey or key
            default = margs[name]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                value = _coerce(name, value, default)
            cfg.model_args[name] = value
        elif strict:
            known = sorted((set(fields) - _DERIVED) | set(margs))
            hint = difflib.get_close_matches(mkey or key, known, n=3)
            extra = f"; did you mean {', '.join(hint)}?" if hint else ""
            raise ConfigError(
                f"{source}: unknown setting {key!r} for model {cfg.model!r}{extra} "
                f"(`mmae train --help-settings` lists them)"
            )


EVAL_SETTINGS = ("smoothing_sigma", "score_reduce", "score_topk", "fpr_limit",
                 "threshold_percentile", "frame_rule", "test_clip_stride", "eval_batch_size",
                 "device", "video_layout", "label_source")


def override_eval_settings(cfg: RunConfig, values: dict[str, Any]) -> RunConfig:
    """A copy of a trained run's config with evaluation settings changed (``mmae test --set``).

    Raises:
        ConfigError: a key that is not an evaluation setting, or a bad value.
    """
    bad = sorted(set(values) - set(EVAL_SETTINGS))
    if bad:
        raise ConfigError(f"--set {', '.join(bad)}: not an evaluation setting; "
                          f"`mmae test` accepts {', '.join(EVAL_SETTINGS)}")
    new = RunConfig.from_dict(cfg.to_dict())
    _apply(new, values, "--set", strict=True)
    return new


def resolve_config(
    model: str = "mmae",
    preset: str = "cpu",
    overrides: dict[str, Any] | None = None,
    data: str = "",
) -> RunConfig:
    """Build the resolved config: model defaults < preset (its kind section) < overrides.

    The preset YAML has one section per data kind (``image``, ``video``), each with ``train``
    (run fields), ``model`` (model arguments, applied where the model takes them) and ``models``
    (per-model-name model arguments).

    Raises:
        ConfigError: unknown model, preset or setting, or an out-of-range value.
    """
    spec = get_spec(model)
    cfg = RunConfig(model=model, preset=preset, kind=spec.kind, data=str(data))
    raw = load_preset(preset)
    section = raw.get(spec.kind, {}) or {}
    _apply(cfg, section.get("train", {}) or {}, f"preset {preset}", strict=True)
    _apply(cfg, section.get("model", {}) or {}, f"preset {preset}", strict=False)
    per_model = (section.get("models", {}) or {}).get(model, {}) or {}
    _apply(cfg, per_model, f"preset {preset} (models.{model})", strict=True)
    _apply(cfg, overrides or {}, "--set", strict=True)
    return cfg


def settings_help(model: str = "mmae", preset: str = "cpu",
                  overrides: dict[str, Any] | None = None) -> str:
    """Every --set key with its value after the preset and ``overrides`` are applied."""
    cfg = resolve_config(model, preset, overrides)
    lines = [f"run settings (preset {preset}):"]
    for f in dataclasses.fields(RunConfig):
        if f.name not in _DERIVED:
            lines.append(f"  {f.name} = {getattr(cfg, f.name)!r}")
    lines.append(f"model settings ({model}, preset {preset}):")
    values = {**model_arguments(model), **cfg.model_kwargs()}
    for k, v in sorted(values.items()):
        lines.append(f"  {k} = {v!r}")
    return "\n".join(lines)


def accepts_setting(model: str, key: str) -> bool:
    """Whether ``resolve_config(model, preset, {key: value})`` would accept ``key`` at all.

    True for a run setting (every model has those) and for a keyword argument of ``model``
    (``model.``-prefixed or not). Values are not checked.

    Raises:
        ConfigError: unknown model.
    """
    runs = {f.name for f in dataclasses.fields(RunConfig)} - _DERIVED
    if key.startswith("model."):
        return key[len("model."):] in model_arguments(model)
    return key in runs or key in model_arguments(model)
