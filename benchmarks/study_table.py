"""One table of a `mmae benchmark` study: every model or variant against one reference.

    python benchmarks/study_table.py OUT/results.json --reference mmae [--metric au_pro]

Per category: the mean ± std over seeds; then the mean over categories and the paired
difference (row - reference) over every (category, seed) pair with its 95% t interval (CI),
the same statistics as `mmae benchmark --compare`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mmae.benchmark.stats import compare_models


def study_table(results: dict, reference: str, metric: str = "au_pro") -> str:
    """The markdown table of ``results.json`` against ``reference``."""
    bench = results["benchmark"]
    cats, models = bench["categories"], bench["models"]
    done = [c for c in results["cells"] if c.get("status") == "done" and c.get(metric) is not None]
    head = f"| {metric} | " + " | ".join(cats) + f" | mean | Δ vs {reference} [95% CI] |"
    lines = [head, "|---|" + "---:|" * (len(cats) + 2)]
    for m in models:
        row, means = [], []
        for c in cats:
            v = [x[metric] for x in done if x["model"] == m and x["category"] == c]
            if v:
                means.append(float(np.mean(v)))
                sd = f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else ""
                row.append(f"{np.mean(v):.3f}{sd}")
            else:
                row.append("-")
        mean = f"{np.mean(means):.3f}" if len(means) == len(cats) else "-"
        if m == reference:
            delta = "(reference)"
        else:
            s = compare_models(done, reference, m, metric, cats)["mean"]
            ci = s["ci_t"]
            delta = "-" if s["diff"] is None else (
                f"{s['diff']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""))
        lines.append(f"| {m} | " + " | ".join(row) + f" | {mean} | {delta} |")
    return "\n".join(lines)


def main() -> None:
    """Command line: print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path)
    p.add_argument("--reference", default="mmae")
    p.add_argument("--metric", default="au_pro")
    a = p.parse_args()
    print(study_table(json.loads(a.results.read_text()), a.reference, a.metric))


if __name__ == "__main__":
    main()
