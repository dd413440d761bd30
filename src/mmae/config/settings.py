"""The run settings by section, their allowed values, and the type check of a ``--set`` value."""

from __future__ import annotations

import math
from typing import Any

from mmae.errors import ConfigError

# Section -> setting names (``model`` holds the model's own keyword arguments).
SECTIONS: dict[str, tuple[str, ...]] = {
    "data": ("image_size", "channels", "video_layout", "label_source", "clip_length",
             "clip_stride", "test_clip_stride", "val_fraction", "tile_size", "tile_overlap"),
    "train": ("epochs", "batch_size", "lr", "weight_decay", "grad_clip", "seed", "num_workers",
              "device", "amp", "save_every", "save_every_s", "compile", "channels_last",
              "logger"),
    "eval": ("smoothing_sigma", "score_reduce", "score_topk", "threshold_percentile",
             "frame_rule", "clip_error", "fpr_limit", "eval_batch_size", "map_terms",
             "standardize", "feature_fit", "knn_bank", "clip_reduce", "feature_scales",
             "gaussian_ridge"),
}

CHOICES: dict[str, tuple[str, ...]] = {
    "score_reduce": ("max", "mean", "topk_mean"),
    "amp": ("auto", "bf16", "off"),
    "frame_rule": ("mean", "center"),
    "clip_error": ("squared", "l2norm"),
    "video_layout": ("auto", "ucsd", "avenue", "shanghaitech", "frames"),
    "logger": ("none", "jsonl", "tensorboard"),
    "compile": ("off", "on", "default", "reduce-overhead", "max-autotune",
                "max-autotune-no-cudagraphs"),
    "channels_last": ("off", "on"),
    "standardize": ("none", "pooled", "position"),
    "feature_fit": ("pooled", "position"),
    "clip_reduce": ("mean", "max", "topk_mean"),
}
# The anomaly-map terms of ``map_terms`` (joined with "+"), see mmae.scoring.terms.
MAP_TERMS: tuple[str, ...] = ("model", "ssim", "gradient", "feature", "gaussian", "knn")
# Settings that take off / on (YAML reads a bare ``on`` / ``off`` / ``true`` as a boolean).
_ON_OFF = ("compile", "channels_last")
_POSITIVE = ("image_size", "epochs", "batch_size", "clip_length", "clip_stride",
             "test_clip_stride", "eval_batch_size", "knn_bank", "feature_scales")
_NON_NEGATIVE = ("lr", "weight_decay", "smoothing_sigma", "grad_clip", "tile_size",
                 "tile_overlap", "save_every", "save_every_s")
_INTEGER = ("save_every",)


def _convert(key: str, value: Any, template: Any) -> Any:
    """``value`` converted to the type of ``template`` (YAML reads ``1e-4`` as a string)."""
    if value is None or template is None or isinstance(value, type(template)):
        return value
    try:
        if isinstance(template, bool):
            raise TypeError
        if isinstance(template, (int, float)) and isinstance(value, str):
            value = float(value)
            if isinstance(template, int) and not value.is_integer():
                raise TypeError
        if isinstance(template, float) and isinstance(value, int):
            return float(value)
        if isinstance(template, int) and isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, type(template)):
            raise TypeError
        return value
    except (TypeError, ValueError):
        kind = {int: "an integer", float: "a number", str: "a string"}.get(
            type(template), type(template).__name__)
        raise ConfigError(f"setting {key}={value!r}: expected {kind}") from None


def coerce(key: str, value: Any, template: Any) -> Any:
    """Convert a setting to the type of its default and range-check it.

    Raises:
        ConfigError: a wrong type or an out-of-range value, naming the setting.
    """
    if key in _ON_OFF and isinstance(value, bool):
        value = "on" if value else "off"
    value = _convert(key, value, template)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"setting {key}={value!r}: must be finite")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"setting {key}={value!r}: choose one of {', '.join(CHOICES[key])}")
    if key in _POSITIVE and (not isinstance(value, int) or value < 1):
        raise ConfigError(f"setting {key}={value!r}: must be a positive integer")
    if key in _INTEGER and (not isinstance(value, int) or value < 0):
        raise ConfigError(f"setting {key}={value!r}: must be an integer >= 0 (0: off)")
    if key in _NON_NEGATIVE and value < 0:
        raise ConfigError(f"setting {key}={value!r}: must be >= 0")
    if key == "gaussian_ridge" and not value > 0:
        raise ConfigError(f"setting {key}={value!r}: must be > 0")
    if key == "lr" and value == 0:
        raise ConfigError("setting lr=0: must be > 0")
    if key == "threshold_percentile" and not 0 < value <= 100:
        raise ConfigError(f"setting {key}={value!r}: must be in (0, 100]")
    if key == "fpr_limit" and not 0 < value <= 1:
        raise ConfigError(f"setting {key}={value!r}: must be in (0, 1]")
    if key == "val_fraction" and not 0 <= value < 1:
        raise ConfigError(f"setting {key}={value!r}: must be in [0, 1)")
    if key == "map_terms":
        names = [n.strip() for n in str(value).split("+")]
        if not all(names) or any(n not in MAP_TERMS for n in names):
            raise ConfigError(f"setting map_terms={value!r}: join one or more of "
                              f"{', '.join(MAP_TERMS)} with '+'")
    if key == "channels" and value not in (None, 1, 3):
        raise ConfigError(f"setting channels={value!r}: must be 1 or 3")
    return value
