"""Options shared by several verbs (``predict``, ``serve``)."""

from __future__ import annotations

import argparse


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
