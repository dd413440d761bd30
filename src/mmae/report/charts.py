"""Pictures of ``report.html`` as PNG bytes: ROC/PRO curves, training curves, score plots.

Figures are built with matplotlib's object-oriented API (``matplotlib.figure.Figure``, Agg
canvas): no pyplot state, no display needed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mmae.report import plots

_DPI = 100


def png_bytes(rgb: np.ndarray) -> bytes:
    """An image (HxW or HxWxC, float in [0, 1] or uint8) as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(plots.to_rgb_uint8(rgb)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _figure(width: float = 5.0, height: float = 3.4):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    return fig, fig.add_subplot(1, 1, 1)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # fixed margins: tight_layout draws the figure once more (measured: half the time here)
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.15, top=0.9)
    fig.savefig(buf, format="png")
    return buf.getvalue()


def curves_png(curves: Sequence[tuple[np.ndarray, np.ndarray, str]], xlabel: str, ylabel: str,
               title: str, x_max: float = 1.0, diagonal: bool = False) -> bytes:
    """Line plot of ``(x, y, label)`` curves on [0, x_max] x [0, 1] (ROC or PRO curves)."""
    fig, ax = _figure()
    if diagonal:
        ax.plot([0, x_max], [0, x_max], color="0.75", lw=0.8, ls="--")
    for i, (x, y, label) in enumerate(curves):
        ax.plot(x, y, lw=2.0 if i == 0 else 1.0, label=label)
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="lower right", fontsize=7)
    return _png(fig)


def score_histogram_png(labels: np.ndarray, scores: np.ndarray,
                        threshold: float | None) -> bytes:
    """Histograms of the image scores of normal and anomalous test images, with the threshold."""
    fig, ax = _figure()
    bins = np.histogram_bin_edges(scores, bins=min(40, max(5, len(scores) // 3)))
    for lab, name, color in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        sel = scores[labels == lab]
        if sel.size:
            # one filled outline per class, not a patch per bin (a third faster at 40 bins)
            ax.hist(sel, bins=bins, alpha=0.55, color=color, histtype="stepfilled",
                    label=f"{name} ({sel.size})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1.2, label=f"threshold {threshold:.4g}")
    ax.set_xlabel("image score")
    ax.set_ylabel("images")
    ax.set_title("Image scores", fontsize=10)
    ax.legend(fontsize=7)
    return _png(fig)


def series_of(log: Sequence[dict[str, Any]], key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The numeric series of one ``train_log.jsonl`` key: name -> (epochs, values).

    A number gives one series; a list gives one per index (``key[i]``); a dict gives one per
    entry (``key.name``, its values numbers or lists). Epochs without the key are left out.
    """
    out: dict[str, tuple[list[float], list[float]]] = {}

    def add(name: str, epoch: float, value: Any) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, (int, float)):
            xs, ys = out.setdefault(name, ([], []))
            xs.append(epoch)
            ys.append(float(value))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                add(f"{name}[{i}]", epoch, v)
        elif isinstance(value, dict):
            for k, v in value.items():
                add(f"{name}.{k}", epoch, v)

    for i, rec in enumerate(log):
        add(key, float(rec.get("epoch", i + 1)), rec.get(key))
    return {k: (np.asarray(x), np.asarray(y)) for k, (x, y) in out.items()}


def training_png(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str,
                 log_y: bool = False) -> bytes:
    """One panel of training curves (value per epoch), one line per series."""
    from matplotlib.ticker import LogFormatter, MaxNLocator

    fig, ax = _figure(4.6, 3.0)
    for name, (x, y) in series.items():
        ax.plot(x, y, marker="o" if len(x) < 30 else None, ms=3, lw=1.2, label=name)
    if log_y and all((y > 0).all() for _, y in series.values()):
        ax.set_yscale("log")
        # plain-text labels ("4e-02"): the default 10^x labels go through mathtext, whose parser
        # costs about 0.3 s on first use in a process (measured), and overflow the fixed margin
        ax.yaxis.set_major_formatter(LogFormatter())
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    ax.set_xlabel("epoch")
    epochs = np.unique(np.concatenate([x for x, _ in series.values()]))
    if len(epochs) <= 12:
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if 1 < len(series) <= 12:
        ax.legend(fontsize=7)
    return _png(fig)


def video_curve_png(scores: np.ndarray, labels: np.ndarray | None, title: str) -> bytes:
    """A video's per-frame anomaly score with its anomalous frames shaded."""
    buf = io.BytesIO()
    plots.save_video_curves(buf, [(scores, labels, title)])  # type: ignore[arg-type]
    return buf.getvalue()


def bars_png(groups: Sequence[str], series: dict[str, Sequence[float | None]], ylabel: str,
             title: str) -> bytes:
    """Grouped bar chart: one group per entry of ``groups``, one bar per series (None: no bar)."""
    fig, ax = _figure(max(4.0, 1.2 + 0.9 * len(groups) * max(1, len(series)) / 2), 3.2)
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for j, (name, values) in enumerate(series.items()):
        vals = [np.nan if v is None else float(v) for v in values]
        bars = ax.bar(x + (j - (len(series) - 1) / 2) * width, vals, width, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=1)
    ax.set_xticks(x, list(groups))
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=7, loc="lower right")
    return _png(fig)
