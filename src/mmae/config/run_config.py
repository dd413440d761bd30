"""Run configuration in four sections: ``model``, ``data``, ``train``, ``eval``.

A run is described by one :class:`RunConfig`. Resolution order: model defaults < preset < ``--set``.
Every setting is reachable as ``--set section.key=value`` (``model.num_scales=3``,
``train.epochs=5``) or by its bare name (``epochs=5``, ``num_scales=3``): bare names are unique
across sections, so each belongs to exactly one. The resolved config is saved in sections as
``config.yaml`` in the run folder (:mod:`mmae.runs.run`).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from mmae.config.presets import list_presets, load_preset, parse_set
from mmae.config.settings import SECTIONS, coerce
from mmae.errors import ConfigError
from mmae.models.registry import get_spec, model_arguments

# RunConfig fields that identify the run rather than set it (no --set key).
_IDENTITY = ("model", "preset", "kind", "data", "model_args")


@dataclass
class RunConfig:
    """Every setting of a run, as flat attributes (``cfg.epochs``); sections in :data:`SECTIONS`."""

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
    val_fraction: float = 0.1  # of the training images, held out to calibrate the threshold
    tile_size: int = 0  # images: tile side in image pixels (0 = off: the whole image is resized)
    tile_overlap: int = 0  # pixels shared by neighbouring tiles (< tile_size)
    # train
    epochs: int = 40
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-5
    grad_clip: float = 0.0  # 0 = off
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 | off
    save_every: int = 0  # epochs between checkpoints; 0 = off (wall clock and end only)
    save_every_s: float = 600.0  # seconds between checkpoints (mid-epoch too); 0 = off
    compile: str = "off"  # off | on (torch.compile of model and loss) | a torch.compile mode
    channels_last: str = "off"  # off | on: 2D models and their inputs in channels-last layout
    logger: str = "jsonl"  # none | jsonl (train_log.jsonl only, always written) | tensorboard
    # eval
    smoothing_sigma: float = 0.0  # Gaussian smoothing of anomaly maps (pixels at model resolution)
    score_reduce: str = "max"  # max | mean | topk_mean
    score_topk: float = 0.01  # fraction of pixels for topk_mean
    threshold_percentile: float = 99.0  # of held-out normal scores: a 1% false-positive rate
    frame_rule: str = "mean"  # video: mean (every frame) | center (MemAE: clip -> 9th frame)
    clip_error: str = "squared"  # video: squared (mean squared error) | l2norm (MemAE)
    fpr_limit: float = 0.3
    eval_batch_size: int = 32
    map_terms: str = "model"  # "+"-joined anomaly-map terms (mmae.scoring.terms)
    standardize: str = "none"  # none | pooled | position: each term by normal statistics
    feature_fit: str = "pooled"  # the gaussian term: one Gaussian (pooled) or one per position
    knn_bank: int = 4096  # rows of the knn term's memory bank of normal features
    clip_reduce: str = "mean"  # video: mean (MemAE's clip error) | max | topk_mean
    feature_scales: int = 1  # input scales whose encoder features feed gaussian / knn terms
    gaussian_ridge: float = 0.01  # gaussian term: covariance + ridge * mean variance * I
    # model keyword arguments (after preset and --set)
    model_args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The config in sections (YAML/JSON-able): ``model``, ``data``, ``train``, ``eval``."""
        out: dict[str, Any] = {"preset": self.preset, "kind": self.kind,
                               "model": {"name": self.model, **self.model_args}}
        for section, names in SECTIONS.items():
            out[section] = {n: getattr(self, n) for n in names}
        out["data"] = {"path": self.data, **out["data"]}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; also reads the flat form of earlier versions.

        Raises:
            ConfigError: unknown keys.
        """
        d = dict(d)
        if isinstance(d.get("model"), dict):  # sectioned form
            flat: dict[str, Any] = {"preset": d.pop("preset", "cpu"),
                                    "kind": d.pop("kind", "image")}
            model = dict(d.pop("model"))
            flat["model"] = model.pop("name", "mmae")
            flat["model_args"] = model
            for section, names in SECTIONS.items():
                values = dict(d.pop(section, {}) or {})
                if section == "data":
                    flat["data"] = values.pop("path", "")
                unknown = sorted(set(values) - set(names))
                if unknown:
                    raise ConfigError(f"config section {section} has unknown keys: "
                                      f"{', '.join(unknown)}")
                flat.update(values)
            if d:
                raise ConfigError(f"config has unknown sections: {', '.join(sorted(d))}")
            d = flat
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
        if "clip_length" in accepted:
            kwargs["clip_length"] = self.clip_length
        return kwargs


def _section_of(name: str) -> str | None:
    for section, names in SECTIONS.items():
        if name in names:
            return section
    return None


def _split_key(key: str, margs: dict[str, Any]) -> tuple[str | None, str]:
    """``(section, name)`` of a --set key, given the model's arguments; section None: unknown."""
    head, dot, rest = key.partition(".")
    if dot and head in ("model", *SECTIONS):
        if head == "model":
            return ("model", rest) if rest in margs else (None, rest)
        return (head, rest) if rest in SECTIONS[head] else (None, rest)
    section = _section_of(key)
    if section is not None:
        return section, key
    return ("model", key) if key in margs else (None, key)


def accepts_setting(model: str, key: str) -> bool:
    """Whether ``--set key=...`` is a valid setting for ``model`` (flat or ``section.key``)."""
    return _split_key(key, model_arguments(model))[0] is not None


def _apply(cfg: RunConfig, margs: dict[str, Any], values: dict[str, Any], source: str,
           strict: bool) -> None:
    """Apply settings to ``cfg`` (``margs``: its model's arguments and their defaults); with
    ``strict`` an unknown key is an error, else skipped."""
    for key, value in values.items():
        section, name = _split_key(key, margs)
        if section == "model":
            default = margs[name]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                value = coerce(name, value, default)
            cfg.model_args[name] = value
        elif section is not None:
            setattr(cfg, name, coerce(name, value, getattr(RunConfig(), name)))
        elif strict:
            known = sorted({n for names in SECTIONS.values() for n in names} | set(margs))
            hint = difflib.get_close_matches(name, known, n=3)
            extra = f"; did you mean {', '.join(hint)}?" if hint else ""
            raise ConfigError(
                f"{source}: unknown setting {key!r} for model {cfg.model!r}{extra} "
                f"(`mmae train --help-settings` lists them)"
            )


def _apply_block(cfg: RunConfig, margs: dict[str, Any], block: dict[str, Any], source: str,
                 shared: bool) -> None:
    """Apply a preset block: section mappings (``train: {...}``) and/or plain keys.

    ``shared`` blocks apply model arguments only to the models that take them.
    """
    for key, value in (block or {}).items():
        if key in SECTIONS or key == "model":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: section {key} must be a mapping")
            prefix = "" if key == "model" and shared else f"{key}."
            strict = not (shared and key == "model")
            _apply(cfg, margs, {f"{prefix}{k}": v for k, v in value.items()}, source, strict)
        else:
            _apply(cfg, margs, {key: value}, source, strict=True)


def override_eval_settings(cfg: RunConfig, values: dict[str, Any]) -> RunConfig:
    """A copy of a trained run's config with ``eval`` (and device/data-reading) settings changed.

    Raises:
        ConfigError: a key that is not an evaluation setting, or a bad value.
    """
    allowed = set(SECTIONS["eval"]) | {"device", "video_layout", "label_source",
                                       "test_clip_stride"}
    margs = model_arguments(cfg.model)
    bad = sorted(k for k in values if _split_key(k, margs)[1] not in allowed
                 or _split_key(k, margs)[0] in (None, "model"))
    if bad:
        raise ConfigError(f"--set {', '.join(bad)}: not an evaluation setting; "
                          f"`mmae test` accepts {', '.join(sorted(allowed))}")
    new = RunConfig.from_dict(cfg.to_dict())
    _apply(new, margs, values, "--set", strict=True)
    return new


def resolve_config(
    model: str = "mmae",
    preset: str = "cpu",
    overrides: dict[str, Any] | None = None,
    data: str = "",
) -> RunConfig:
    """Build the resolved config: model defaults < preset (its kind's block) < overrides.

    A preset has one block per data kind (``image``, ``video``) holding the sections ``data``,
    ``train``, ``eval`` and ``model`` (model arguments, applied to the models that take them),
    and ``models`` (per model name: its own model arguments, or sections).

    Raises:
        ConfigError: unknown model, preset or setting, or an out-of-range value.
    """
    spec = get_spec(model)  # the registry is asked once: the model's kind and arguments
    margs = spec.arguments()
    cfg = RunConfig(model=model, preset=preset, kind=spec.kind, data=str(data))
    block = dict(load_preset(preset).get(spec.kind, {}) or {})
    per_model = (block.pop("models", {}) or {}).get(model, {}) or {}
    _apply_block(cfg, margs, block, f"preset {preset}", shared=True)
    _apply_block(cfg, margs, per_model, f"preset {preset} (models.{model})", shared=False)
    _apply(cfg, margs, overrides or {}, "--set", strict=True)
    return cfg


def settings_help(model: str = "mmae", preset: str = "cpu",
                  overrides: dict[str, Any] | None = None) -> str:
    """Every --set key, by section, with its value after the preset and ``overrides``."""
    cfg = resolve_config(model, preset, overrides)
    lines = []
    for section, names in SECTIONS.items():
        lines.append(f"{section} settings (preset {preset}; --set {section}.KEY or KEY):")
        lines.extend(f"  {n} = {getattr(cfg, n)!r}" for n in names)
    lines.append(f"model settings ({model}, preset {preset}; --set model.KEY or KEY):")
    values = {**model_arguments(model), **cfg.model_kwargs()}
    lines.extend(f"  {k} = {v!r}" for k, v in sorted(values.items()))
    return "\n".join(lines)



__all__ = ["RunConfig", "accepts_setting", "list_presets", "load_preset", "override_eval_settings",
           "parse_set", "resolve_config", "settings_help"]
