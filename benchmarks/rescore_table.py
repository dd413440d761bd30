"""Markdown tables of ``benchmarks/rescore.py`` results: candidates by model, with paired CIs.

For each model, one row per candidate: the per-category mean over seeds of ``--metric`` (columns
``--categories``), their mean, and the paired difference to the ``--reference`` candidate of the
same runs over every (category, seed) pair with its 95% paired t interval
(:func:`mmae.benchmark.stats.t_interval`).

    python benchmarks/rescore_table.py rescore.jsonl --metric image_auroc
    python benchmarks/rescore_table.py --quick
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mmae.benchmark.stats import t_interval

HARD = ("carpet", "screw", "tiles", "gravel", "pcb", "grass")


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """Every record of the JSON-lines files (a later line for the same run and candidate wins)."""
    recs: dict[tuple[str, str], dict[str, Any]] = {}
    for p in paths:
        for line in Path(p).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                recs[(r["run"], r["candidate"])] = r
    return list(recs.values())


def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def table(recs: list[dict[str, Any]], model: str, metric: str, categories: tuple[str, ...],
          reference: str, candidates: list[str] | None = None) -> str:
    """One model's candidates: per-category means, the mean, and the paired difference."""
    by: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for r in recs:
        if r["model"] == model and r["category"] in categories and r.get(metric) is not None:
            by[(r["candidate"], r["category"], r["seed"])] = r[metric]
    names = candidates or sorted({k[0] for k in by}, key=lambda n: (n != reference, n))
    cats = [c for c in categories if any(k[1] == c for k in by)]
    head = f"| {model}: {metric} | " + " | ".join(cats) + " | mean | Δ vs " + reference + \
        " [95% CI] |"
    lines = [head, "|---|" + "---:|" * (len(cats) + 2)]
    for name in names:
        cells = []
        means = []
        for c in cats:
            v = [by[k] for k in by if k[0] == name and k[1] == c]
            cells.append(_fmt(float(np.mean(v))) if v else "n/a")
            if v:
                means.append(float(np.mean(v)))
        if not means:
            continue
        pairs = [(by[k], by[(reference, k[1], k[2])]) for k in by
                 if k[0] == name and k[1] in cats and (reference, k[1], k[2]) in by]
        diff = [a - b for a, b in pairs]
        if name == reference:
            delta = "(reference)"
        elif diff:
            ci = t_interval(diff)
            delta = f"{_fmt(float(np.mean(diff)), True)}" + (
                f" [{_fmt(ci[0], True)}, {_fmt(ci[1], True)}]" if ci else "")
        else:
            delta = "n/a"
        mean = _fmt(float(np.mean(means))) if len(means) == len(cats) else "n/a"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mean} | {delta} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="rescore.py JSON-lines files")
    p.add_argument("--metric", default="image_auroc",
                   help="image_auroc, au_pro, image_f1_normal, fpr_normal, frame_auc_micro")
    p.add_argument("--categories", default=",".join(HARD))
    p.add_argument("--models", default=None, help="comma-separated (default: all)")
    p.add_argument("--reference", default="base")
    p.add_argument("--candidates", default=None, help="comma-separated, in this order")
    p.add_argument("--quick", action="store_true", help="a made-up two-record check")
    a = p.parse_args(argv)
    if a.quick:
        recs = [{"run": f"r{s}", "model": "m", "category": "carpet", "seed": s,
                 "candidate": c, "image_auroc": 0.5 + 0.1 * s + (0.2 if c == "x" else 0)}
                for s in range(3) for c in ("base", "x")]
        out = table(recs, "m", "image_auroc", HARD, "base")
        print(out)
        return 0 if "+0.200" in out else 1
    recs = load(a.files)
    models = a.models.split(",") if a.models else sorted({r["model"] for r in recs})
    cands = a.candidates.split(",") if a.candidates else None
    for m in models:
        print(table(recs, m, a.metric, tuple(a.categories.split(",")), a.reference, cands))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
