"""``OUT/report.html`` of ``mmae benchmark``: its tables as HTML, a bar chart, every cell.

Self-contained like the test report (:mod:`mmae.report.html`): inline CSS, PNG data URIs,
no script. The tables are those of ``tables.md`` (:func:`format_tables`), converted to HTML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mmae.benchmark.tables import format_tables, tables_of
from mmae.report import charts as rp
from mmae.report.data import REPORT, Header
from mmae.report.html import esc, figure, fmt, page, table, write_report

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escape a markdown fragment and turn ``**x**`` into bold."""
    return _BOLD.sub(r"<strong>\1</strong>", esc(text))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_tables_html(md: str) -> str:
    """The markdown of ``tables.md`` as HTML: pipe tables become tables, the rest paragraphs.

    Only what :func:`format_tables` writes is understood: paragraphs, ``**bold**`` and pipe
    tables with a ``---`` / ``---:`` separator row.
    """
    out = []
    for block in re.split(r"\n\s*\n", md.strip()):
        lines = block.splitlines()
        if len(lines) >= 2 and all(ln.lstrip().startswith("|") for ln in lines):
            head, align, body = _cells(lines[0]), _cells(lines[1]), lines[2:]
            right = [a.endswith(":") for a in align]

            def cell(tag: str, text: str, j: int, right=right) -> str:
                style = ' style="text-align:right"' if j < len(right) and right[j] else ""
                return f"<{tag}{style}>{_inline(text)}</{tag}>"

            rows = "".join("<tr>" + "".join(cell("td", c, j) for j, c in enumerate(_cells(r)))
                           + "</tr>" for r in body)
            out.append('<div class="scroll"><table><thead><tr>'
                       + "".join(cell("th", c, j) for j, c in enumerate(head))
                       + f"</tr></thead><tbody>{rows}</tbody></table></div>")
        else:
            out.append("<p>" + "<br>".join(_inline(ln) for ln in lines) + "</p>")
    return "".join(out)


def mean_per_model(results: dict[str, Any]) -> dict[str, list[float | None]]:
    """Metric -> mean over the finished cells of each model (in model order; None if none)."""
    bench = results["benchmark"]
    tables, _ = tables_of(bench["kind"])
    out: dict[str, list[float | None]] = {}
    for key, _ in tables:
        row: list[float | None] = []
        for m in bench["models"]:
            vals = [float(c[key]) for c in results["cells"] if c["model"] == m
                    and c.get("status") == "done" and c.get(key) is not None]
            row.append(sum(vals) / len(vals) if vals else None)
        out[key] = row
    return out


def benchmark_report_html(results: dict[str, Any], folder: str) -> str:
    """The benchmark report page of a ``results.json`` dict (``folder``: the benchmark's)."""
    bench = results["benchmark"]
    tables, _ = tables_of(bench["kind"])
    keys = [k for k, _ in tables]
    means = mean_per_model(results)
    chart = ""
    if any(v is not None for row in means.values() for v in row):
        chart = figure(rp.bars_png(bench["models"], means, "mean over categories",
                                   "Mean metric per model"),
                       "Mean of each metric over the finished cells of each model")
    rows = []
    for c in results["cells"]:
        href = "/".join(quote(str(p)) for p in (
            "cells", c["category"], c["model"], f"seed{c.get('seed', 0)}", "test", REPORT))
        link = (f'<a href="{esc(href)}">report</a>' if c.get("status") == "done"
                else esc(c.get("error", "")))
        values = (c["category"], c["model"], c.get("seed", ""), c.get("status"),
                  *(fmt(c.get(k)) for k in keys),
                  fmt(c.get("train_seconds"), 1), fmt(c.get("test_seconds"), 1))
        rows.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in values)
                    + f"<td>{link}</td></tr>")
    head = ["category", "model", "seed", "status", *keys, "train s", "test s", "test report"]
    cells = ('<div class="scroll"><table><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head)
             + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    env = table(["", ""], [[k, v] for k, v in results.get("environment", {}).items()])
    setup = table(["", ""], [["kind", bench["kind"]], ["preset", bench["preset"]],
                             ["categories", ", ".join(bench["categories"])],
                             *([f"--set {k}", v] for k, v in bench.get("sets", {}).items())])
    sections = [("tables", "Tables", markdown_tables_html(format_tables(results))),
                ("chart", "Mean per model", chart or "<p>No finished cell yet.</p>"),
                ("cells", "Cells", cells),
                ("setup", "Set-up and machine", setup + env)]
    header = Header("benchmark report", ", ".join(bench["models"]), folder, bench["data"])
    return page(header, sections, {}, labels={"model": "models", "run": "folder"})


def write_benchmark_report(out: Path, results: dict[str, Any]) -> Path:
    """Write ``out/report.html`` of a benchmark's ``results.json`` dict; returns its path."""
    path = Path(out) / REPORT
    write_report(path, benchmark_report_html(results, str(out)))
    return path
