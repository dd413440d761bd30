"""Paired comparisons of two benchmark models: differences B - A with 95% confidence intervals.

The unit of pairing is one (category, seed) cell: both models trained with the same seed on the
same category. Per category the interval is over the seeds; on the mean it is over every
(category, seed) pair. Two intervals are computed:

* the paired t interval ``mean ± t_{0.975, n-1} · sd / sqrt(n)`` (``sd`` with ``n - 1``), the one
  the tables report (it stays honest for the few pairs a benchmark has, where a bootstrap
  interval is too narrow);
* a paired percentile bootstrap over the pairs (``BOOTSTRAP_RESAMPLES`` resamples, fixed seed),
  recorded beside it in ``results.json``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
REPORTED = "t"  # which interval the tables show: "t" or "bootstrap"


def t_interval(diffs: Sequence[float], level: float = LEVEL) -> tuple[float, float] | None:
    """Paired t interval of the mean difference; ``None`` for fewer than 2 differences."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2:
        return None
    half = stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean() - half), float(d.mean() + half)


def bootstrap_interval(diffs: Sequence[float], level: float = LEVEL,
                       resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean difference (pairs resampled with replacement).

    ``None`` for fewer than 2 differences. Deterministic for a given ``seed``.
    """
    d = np.asarray(diffs, dtype=float)
    if d.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def _summary(diffs: list[float]) -> dict[str, Any]:
    t = t_interval(diffs)
    boot = bootstrap_interval(diffs)
    return {"n": len(diffs), "diff": float(np.mean(diffs)) if diffs else None,
            "ci_t": list(t) if t else None, "ci_bootstrap": list(boot) if boot else None}


def parse_compare(items: list[str] | None) -> list[tuple[str, str]]:
    """``["mmae,memae", "mmae,ae"]`` -> ``[("mmae", "memae"), ("mmae", "ae")]``.

    A bracket-aware split, so ``"memae,mmae[latent=spatial,fuser=sum]"`` is one pair.

    Raises:
        ConfigError: an item that is not two names.
    """
    from mmae.benchmark.variants import split_top
    from mmae.errors import ConfigError

    pairs = []
    for item in items or []:
        names = split_top(item)
        if len(names) != 2 or names[0] == names[1]:
            raise ConfigError(f"--compare {item!r}: expected two different models A,B")
        pairs.append((names[0], names[1]))
    return list(dict.fromkeys(pairs))


def compare_models(cells: list[dict[str, Any]], a: str, b: str, metric: str,
                   categories: list[str]) -> dict[str, Any]:
    """The paired difference ``b - a`` of ``metric`` per category and on the mean.

    Args:
        cells: ``results.json`` cells (those not done, or without the metric, are left out).
        a, b: Model (or variant) names.
        metric: A cell key, e.g. ``"au_pro"``.
        categories: Category order.

    Returns:
        ``{"a", "b", "metric", "level", "reported", "categories": {c: summary}, "mean": summary}``
        where a summary is ``{"n", "diff", "ci_t", "ci_bootstrap"}`` (intervals ``[lo, hi]`` or
        ``None`` with fewer than two pairs). The mean is over every (category, seed) pair both
        models finished.
    """
    values: dict[tuple[str, str, Any], float] = {}
    for c in cells:
        if c.get("status") == "done" and c.get(metric) is not None:
            values[(c["model"], c["category"], c.get("seed"))] = float(c[metric])
    per_cat: dict[str, dict[str, Any]] = {}
    pooled: list[float] = []
    for cat in categories:
        seeds = sorted({s for (m, c, s) in values if m == a and c == cat}
                       & {s for (m, c, s) in values if m == b and c == cat},
                       key=lambda s: (s is None, s))
        diffs = [values[(b, cat, s)] - values[(a, cat, s)] for s in seeds]
        per_cat[cat] = _summary(diffs)
        pooled += diffs
    return {"a": a, "b": b, "metric": metric, "level": LEVEL, "reported": REPORTED,
            "categories": per_cat, "mean": _summary(pooled)}


def resolve_comparisons(models: list[str], kind: str, compare: list[str] | None,
                        metric: str | None) -> tuple[list[tuple[str, str]], str]:
    """Check ``--compare`` pairs against the benchmark's models; the metric compared.

    Args:
        models: The benchmark's models and variants (after ``--grid``).
        kind: ``"image"`` or ``"video"``.
        compare: ``--compare`` items (``"A,B"``).
        metric: A cell metric; ``None``: AU-PRO (images) or frame AUC micro (video).

    Raises:
        ConfigError: a name not among ``models``, or a metric the cells do not record.
    """
    from mmae.benchmark.variants import parse_variant, variant_name
    from mmae.errors import ConfigError
    from mmae.tasks import TASKS

    keys = TASKS[kind].metric_keys
    metric = metric or keys[0]
    if metric not in keys:
        raise ConfigError(f"--compare-metric {metric}: choose one of {', '.join(keys)}")
    pairs = []
    for a, b in parse_compare(compare):
        names = []
        for name in (a, b):
            try:
                canon = variant_name(*parse_variant(name))
            except ConfigError as exc:
                raise ConfigError(f"--compare: {exc}") from None
            if canon not in models:
                raise ConfigError(f"--compare: {name!r} is not one of the benchmark's models "
                                  f"({', '.join(models)})")
            names.append(canon)
        pairs.append((names[0], names[1]))
    return pairs, metric
