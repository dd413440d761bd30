"""Markdown tables of a benchmark in the paper's layout (``tables.md``).

* Table 1 (images): rows are categories, textures first then objects (MVTec AD's textures are
  carpet, grid, leather, tile and wood; the synthetic ``fabric``, ``grid``, ``carpet``,
  ``tiles`` and ``gravel`` are textures too; everything else is an object), columns are
  models; AU-PRO@0.3, then the same for image AUROC and pixel AUROC. A mean row closes each
  table; the best value of each row is in bold (ties, at the printed precision, are all bold).
* Table 2 (video): rows are models, columns are datasets; frame AUC (micro), the best of each
  column in bold; the macro frame AUC follows as an extra table.

With several seeds a value is ``mean ± std`` over the seeds (sample std), with ``(n/N)`` when only
n of the N seeds are done; a mean over categories is taken per seed, then over the seeds.
Comparisons (``--compare A,B``) follow as one table each: B − A per category and on the mean,
with the 95% CI the comparison reports (:mod:`mmae.benchmark.stats`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

TEXTURES = frozenset({"carpet", "grid", "leather", "tile", "wood", "fabric", "tiles", "gravel",
                      "grass"})
IMAGE_TABLES = (("au_pro", "Table 1: AU-PRO@0.3"),
                ("image_auroc", "Table 1b: image AUROC"),
                ("pixel_auroc", "Table 1c: pixel AUROC"))
VIDEO_TABLES = (("frame_auc_micro", "Table 2: frame AUC (micro)"),
                ("frame_auc_macro", "Table 2b: frame AUC (macro, per-video mean)"))
DIGITS = 3


def category_group(name: str) -> str:
    """``"textures"`` or ``"objects"`` for a category name."""
    return "textures" if name.lower() in TEXTURES else "objects"


Cells = dict[tuple[str, str], list[dict[str, Any]]]


def _index(results: dict[str, Any]) -> Cells:
    """(model, category) -> its cells, one per seed."""
    out: Cells = {}
    for c in results["cells"]:
        out.setdefault((c["model"], c["category"]), []).append(c)
    return out


def _values(cells: list[dict[str, Any]], key: str) -> dict[Any, float]:
    """Seed -> value of the done cells that have ``key``."""
    return {c.get("seed"): float(c[key]) for c in cells
            if c.get("status") == "done" and c.get(key) is not None}


def _status(cells: list[dict[str, Any]]) -> str:
    statuses = {c.get("status", "pending") for c in cells} or {"pending"}
    return "failed" if "failed" in statuses else "pending" if "pending" in statuses else "done"


class Stat:
    """A shown value: mean (and std over seeds), how many seeds it has of how many."""

    def __init__(self, values: list[float], total: int, status: str = "done") -> None:
        self.mean = statistics.fmean(values) if values else None
        self.std = statistics.stdev(values) if len(values) > 1 else None
        self.n, self.total, self.status = len(values), total, status

    def text(self, best: float | None) -> str:
        """Markdown text; bold when the rounded mean is ``best``."""
        if self.mean is None:
            return {"failed": "failed", "pending": "-"}.get(self.status, "n/a")
        text = f"{self.mean:.{DIGITS}f}"
        if self.total > 1:
            text += f" ± {self.std:.{DIGITS}f}" if self.std is not None else " ± n/a"
        if best is not None and round(self.mean, DIGITS) == best:
            text = f"**{text}**"
        return text + (f" ({self.n}/{self.total})" if self.n < self.total else "")


def _cell_stat(cells: list[dict[str, Any]] | None, key: str, total: int) -> Stat:
    cells = cells or []
    return Stat(list(_values(cells, key).values()), total, _status(cells))


def _mean_stat(index: Cells, model: str, categories: list[str], seeds: list[Any],
               key: str) -> tuple[Stat, bool]:
    """Mean over categories per seed, then over seeds; whether some value was missing."""
    per = [_values(index.get((model, c), []), key) for c in categories]
    means, partial = [], False
    for s in seeds:
        present = [v[s] for v in per if s in v]
        partial |= len(present) < len(categories)
        if present:
            means.append(statistics.fmean(present))
    return Stat(means, len(seeds)), partial


def _best(stats: list[Stat]) -> float | None:
    present = [round(s.mean, DIGITS) for s in stats if s.mean is not None]
    return max(present) if present else None


def _seeds(results: dict[str, Any]) -> list[Any]:
    seeds = results["benchmark"].get("seeds")
    return list(seeds) if seeds else sorted({c.get("seed") for c in results["cells"]},
                                            key=lambda s: (s is None, s))


def image_table(results: dict[str, Any], key: str, title: str) -> str:
    """One Table-1-style markdown table for metric ``key``."""
    bench = results["benchmark"]
    models, categories = bench["models"], bench["categories"]
    seeds = _seeds(results)
    index = _index(results)
    over = f"; mean ± std over {len(seeds)} seeds" if len(seeds) > 1 else ""
    lines = [f"**{title}** (rows: categories, textures then objects; best of each row in "
             f"bold{over})", "", "| | category | " + " | ".join(models) + " |",
             "|---|---|" + "---:|" * len(models)]
    ordered = ([c for c in categories if category_group(c) == "textures"]
               + [c for c in categories if category_group(c) == "objects"])
    last_group = None
    for c in ordered:
        group = category_group(c)
        stats = [_cell_stat(index.get((m, c)), key, len(seeds)) for m in models]
        best = _best(stats)
        label = group if group != last_group else ""
        last_group = group
        lines.append(f"| {label} | {c} | " + " | ".join(s.text(best) for s in stats) + " |")
    means = [_mean_stat(index, m, ordered, seeds, key) for m in models]
    best = _best([s for s, _ in means])
    shown = [s.text(best) + ("†" if partial and s.mean is not None else "")
             for s, partial in means]
    lines.append("| **mean** | | " + " | ".join(shown) + " |")
    if any(partial for _, partial in means):
        lines += ["", "† mean over the categories with a value (others failed, pending or n/a)."]
    return "\n".join(lines)


def video_table(results: dict[str, Any], key: str, title: str) -> str:
    """One Table-2-style markdown table for metric ``key``: models x datasets."""
    bench = results["benchmark"]
    models, datasets = bench["models"], bench["categories"]
    seeds = _seeds(results)
    index = _index(results)
    columns = datasets + (["mean"] if len(datasets) > 1 else [])
    grid: dict[str, list[Stat]] = {}
    for m in models:
        row = [_cell_stat(index.get((m, d)), key, len(seeds)) for d in datasets]
        if len(datasets) > 1:
            mean, partial = _mean_stat(index, m, datasets, seeds, key)
            row.append(mean if not partial else Stat([], len(seeds), "n/a"))
        grid[m] = row
    bests = [_best([grid[m][j] for m in models]) for j in range(len(columns))]
    over = f"; mean ± std over {len(seeds)} seeds" if len(seeds) > 1 else ""
    lines = [f"**{title}** (rows: models, columns: datasets; best of each column in bold{over})",
             "", "| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(s.text(b) for s, b in zip(grid[m], bests)) + " |")
    return "\n".join(lines)


METRIC_NAMES = {"au_pro": "AU-PRO@0.3", "image_auroc": "image AUROC",
                "pixel_auroc": "pixel AUROC", "frame_auc_micro": "frame AUC (micro)",
                "frame_auc_macro": "frame AUC (macro)"}


def _signed(v: float) -> str:
    return f"{v:+.{DIGITS}f}"


def comparison_table(comp: dict[str, Any]) -> str:
    """One ``--compare A,B`` section: B − A per category and on the mean, with its 95% CI."""
    a, b, metric = comp["a"], comp["b"], comp["metric"]
    reported = comp.get("reported", "t")
    how = ("paired t interval, mean ± t(0.975, n−1)·sd/√n" if reported == "t"
           else "paired bootstrap over the (category, seed) pairs")
    other = "bootstrap" if reported == "t" else "t"
    level = round(100 * comp.get("level", 0.95))
    lines = [f"**Comparison: {b} − {a}, {METRIC_NAMES.get(metric, metric)}** (paired difference "
             f"per category over its seeds, and on the mean over every (category, seed) pair; "
             f"{level}% CI: {how}; the {other} interval is in results.json)", "",
             f"| category | pairs | {b} − {a} | {level}% CI |", "|---|---:|---:|---|"]
    rows = [*comp["categories"].items(), ("**mean**", comp["mean"])]
    excludes = False
    for name, summ in rows:
        ci = summ.get(f"ci_{reported}")
        diff = "-" if summ.get("diff") is None else _signed(summ["diff"])
        star = bool(ci) and (ci[0] > 0 or ci[1] < 0)
        excludes |= star
        text = (f"[{_signed(ci[0])}, {_signed(ci[1])}]" + (" *" if star else "")
                if ci else "n/a (fewer than 2 pairs)")
        lines.append(f"| {name} | {summ['n']} | {diff} | {text} |")
    if excludes:
        lines += ["", "\\* the CI excludes 0."]
    return "\n".join(lines)


def format_tables(results: dict[str, Any]) -> str:
    """Every table of a benchmark's ``results.json`` dict, as one markdown document."""
    bench = results["benchmark"]
    sets = " ".join(f"--set {k}={v}" for k, v in bench["sets"].items())
    seeds = _seeds(results)
    seeds_text = (f"; seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else "")
    head = (f"Benchmark of {', '.join(bench['models'])} on {bench['data']} "
            f"(preset {bench['preset']}{'; ' + sets if sets else ''}{seeds_text}).")
    tables, make = tables_of(bench["kind"])
    body = [make(results, key, title) for key, title in tables]
    body += [comparison_table(comp) for comp in results.get("comparisons") or []]
    pending = [c for c in results["cells"] if c.get("status") != "done"]
    tail = []
    if pending:
        tail = [f"{len(pending)} of {len(results['cells'])} cells not done: "
                + ", ".join(f"{c['model']}/{c['category']}{_seed_tag(c, results)} "
                            f"({c['status']})" for c in pending)]
    return "\n\n".join([head, *body, *tail]) + "\n"


def _seed_tag(cell: dict[str, Any], results: dict[str, Any]) -> str:
    return f"/seed{cell['seed']}" if len(_seeds(results)) > 1 and "seed" in cell else ""


def tables_of(kind: str) -> tuple[tuple[tuple[str, str], ...], Callable[..., str]]:
    """The tables of a benchmark of ``kind`` (metric key, title) and the function laying one out:
    images by category (rows) and model (columns), video by model (rows) and dataset."""
    return {"image": (IMAGE_TABLES, image_table), "video": (VIDEO_TABLES, video_table)}[kind]
