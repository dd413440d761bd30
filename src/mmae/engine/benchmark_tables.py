"""Markdown tables of a benchmark in the paper's layout (``tables.md``).

* Table 1 (images): rows are categories, textures first then objects (MVTec AD's textures are
  carpet, grid, leather, tile and wood; the synthetic ``fabric``, ``grid``, ``carpet``,
  ``tiles`` and ``gravel`` are textures too; everything else is an object), columns are
  models; AU-PRO@0.3, then the same for image AUROC and pixel AUROC. A mean row closes each
  table; the best value of each row is in bold (ties, at the printed precision, are all bold).
* Table 2 (video): rows are models, columns are datasets; frame AUC (micro), the best of each
  column in bold; the macro frame AUC follows as an extra table.
"""

from __future__ import annotations

from typing import Any

TEXTURES = frozenset({"carpet", "grid", "leather", "tile", "wood", "fabric", "tiles", "gravel"})
IMAGE_TABLES = (("au_pro", "Table 1: AU-PRO@0.3"),
                ("image_auroc", "Table 1b: image AUROC"),
                ("pixel_auroc", "Table 1c: pixel AUROC"))
VIDEO_TABLES = (("frame_auc_micro", "Table 2: frame AUC (micro)"),
                ("frame_auc_macro", "Table 2b: frame AUC (macro, per-video mean)"))
DIGITS = 3


def category_group(name: str) -> str:
    """``"textures"`` or ``"objects"`` for a category name."""
    return "textures" if name.lower() in TEXTURES else "objects"


def _cell_value(cell: dict[str, Any] | None, key: str) -> float | None:
    if cell is None or cell.get("status") != "done":
        return None
    v = cell.get(key)
    return None if v is None else float(v)


def _fmt(v: float | None, best: float | None, status: str = "done") -> str:
    if v is None:
        return {"failed": "failed", "pending": "-"}.get(status, "n/a")
    text = f"{v:.{DIGITS}f}"
    return f"**{text}**" if best is not None and round(v, DIGITS) == best else text


def _best(values: list[float | None]) -> float | None:
    present = [round(v, DIGITS) for v in values if v is not None]
    return max(present) if present else None


def _mean(values: list[float | None]) -> tuple[float | None, bool]:
    """Mean of the present values and whether some were missing."""
    present = [v for v in values if v is not None]
    if not present:
        return None, True
    return sum(present) / len(present), len(present) < len(values)


def image_table(results: dict[str, Any], key: str, title: str) -> str:
    """One Table-1-style markdown table for metric ``key``."""
    bench = results["benchmark"]
    models, categories = bench["models"], bench["categories"]
    cells = {(c["model"], c["category"]): c for c in results["cells"]}
    lines = [f"**{title}** (rows: categories, textures then objects; best of each row in bold)",
             "", "| | category | " + " | ".join(models) + " |",
             "|---|---|" + "---:|" * len(models)]
    ordered = ([c for c in categories if category_group(c) == "textures"]
               + [c for c in categories if category_group(c) == "objects"])
    last_group = None
    for c in ordered:
        group = category_group(c)
        values = [_cell_value(cells.get((m, c)), key) for m in models]
        best = _best(values)
        shown = [_fmt(v, best, (cells.get((m, c)) or {}).get("status", "pending"))
                 for m, v in zip(models, values)]
        label = group if group != last_group else ""
        last_group = group
        lines.append(f"| {label} | {c} | " + " | ".join(shown) + " |")
    means = [_mean([_cell_value(cells.get((m, c)), key) for c in ordered]) for m in models]
    best = _best([v for v, _ in means])
    shown = [_fmt(v, best) + ("†" if partial and v is not None else "") for v, partial in means]
    lines.append("| **mean** | | " + " | ".join(shown) + " |")
    if any(partial for _, partial in means):
        lines += ["", "† mean over the categories with a value (others failed, pending or n/a)."]
    return "\n".join(lines)


def video_table(results: dict[str, Any], key: str, title: str) -> str:
    """One Table-2-style markdown table for metric ``key``: models x datasets."""
    bench = results["benchmark"]
    models, datasets = bench["models"], bench["categories"]
    cells = {(c["model"], c["category"]): c for c in results["cells"]}
    columns = datasets + (["mean"] if len(datasets) > 1 else [])
    grid: dict[str, list[float | None]] = {}
    for m in models:
        row = [_cell_value(cells.get((m, d)), key) for d in datasets]
        if len(datasets) > 1:
            row.append(_mean(row)[0] if all(v is not None for v in row) else None)
        grid[m] = row
    bests = [_best([grid[m][j] for m in models]) for j in range(len(columns))]
    lines = [f"**{title}** (rows: models, columns: datasets; best of each column in bold)", "",
             "| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for m in models:
        statuses = [(cells.get((m, d)) or {}).get("status", "pending") for d in datasets]
        statuses += ["n/a"] * (len(columns) - len(datasets))
        shown = [_fmt(v, b, s) for v, b, s in zip(grid[m], bests, statuses)]
        lines.append(f"| {m} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def format_tables(results: dict[str, Any]) -> str:
    """Every table of a benchmark's ``results.json`` dict, as one markdown document."""
    bench = results["benchmark"]
    sets = " ".join(f"--set {k}={v}" for k, v in bench["sets"].items())
    head = (f"Benchmark of {', '.join(bench['models'])} on {bench['data']} "
            f"(preset {bench['preset']}{'; ' + sets if sets else ''}).")
    tables = IMAGE_TABLES if bench["kind"] == "image" else VIDEO_TABLES
    make = image_table if bench["kind"] == "image" else video_table
    body = [make(results, key, title) for key, title in tables]
    pending = [c for c in results["cells"] if c.get("status") != "done"]
    tail = []
    if pending:
        tail = [f"{len(pending)} of {len(results['cells'])} cells not done: "
                + ", ".join(f"{c['model']}/{c['category']} ({c['status']})" for c in pending)]
    return "\n\n".join([head, *body, *tail]) + "\n"
