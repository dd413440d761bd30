"""Options shared by several verbs (``predict``, ``serve``)."""

from __future__ import annotations

import argparse
import warnings

from PIL import Image

from mmae.data.image_decode import DEFAULT_MAX_PIXELS
from mmae.errors import ConfigError


def add_threshold_options(p: argparse.ArgumentParser) -> None:
    """``--threshold`` and ``--threshold-rule``: which threshold decides ``anomalous``."""
    p.add_argument("--threshold", type=float, default=None,
                   help="score threshold: image score, or frame score for a video run (wins "
                        "over --threshold-rule)")
    p.add_argument("--threshold-rule", choices=["normal", "f1"], default=None,
                   help="which stored threshold to use: normal (the default: a stated "
                        "false-positive rate, 1%% with threshold_percentile=99, on held-out "
                        "normal training images) or f1 (F1-max on the labelled test set, "
                        "stored by `mmae test`)")


def add_max_pixels_option(p: argparse.ArgumentParser) -> None:
    """``--max-pixels``: the largest image (or video frame) decoded, from its header."""
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="largest image or video frame accepted, in pixels (width x height, read "
                        "from the file's header before anything is decoded; default "
                        f"{DEFAULT_MAX_PIXELS}, e.g. 8000 x 8000); larger inputs are refused "
                        "with an error naming them; 0 lifts the limit (Pillow's own limit of "
                        "about 179 million pixels remains)")


def max_pixels_value(value: int) -> int | None:
    """``--max-pixels`` as the engine takes it: None for no limit (0). Pillow's warning about
    large images is silenced: this cap replaces it."""
    if value < 0:
        raise ConfigError(f"--max-pixels {value}: give a positive number, or 0 for no limit")
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return value or None
