"""``report.html``: a self-contained HTML page of a test (image or video) run.

Everything is in the one file: pictures are PNG data URIs, the CSS is inline, there is no script,
font or link to anything outside, and a Content-Security-Policy forbids loading anything but
``data:`` images, so the page looks the same offline. The page is built from the dataclasses of
:mod:`mmae.report.data` and does no model or metric work.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mmae.report import charts as rp
from mmae.report import plots
from mmae.report.data import GalleryItem, Header, ImageReport, VideoReport
from mmae.runs.checkpoint import atomic_write_text

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_NON_LOSS = ("samples_per_s", "lr", "seconds", "time", "norm", "weight", "fraction", "rate")

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1d2330;background:#f4f5f7}
header{background:#1f2a44;color:#fff;padding:18px 28px}
header h1{margin:0 0 8px;font-size:22px;font-weight:600}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:13px}
dl.meta dt{opacity:.7}dl.meta dd{margin:0;word-break:break-all}
nav{margin-top:10px}nav a{color:#b9c8ff;margin-right:16px;text-decoration:none}
main{max-width:1280px;margin:0 auto;padding:8px 20px 40px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);
margin:18px 0;padding:14px 20px}
h2{font-size:18px;margin:4px 0 12px}h2 a{color:inherit;text-decoration:none}
h3{font-size:15px;margin:16px 0 8px}
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid #e3e6eb;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f0f2f5;font-weight:600}tr.total td{font-weight:600;border-top:2px solid #c9ced6}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}
.grid.wide{grid-template-columns:repeat(auto-fill,minmax(560px,1fr))}
figure{margin:0}figure img{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#555;margin-top:4px}
.items{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:8px 22px}
.row{display:grid;grid-template-columns:repeat(4,minmax(60px,1fr));gap:6px;margin:4px 0 12px}
.row img{width:100%;image-rendering:pixelated;border:1px solid #d5d9e0;border-radius:3px}
.rowhead{font-size:13px;margin-top:8px}.cols{font-size:11px;color:#666;text-align:center}
.bad{color:#b3261e;font-weight:600}.ok{color:#1b7f3b;font-weight:600}
.notes{font-size:12px;color:#666}.scroll{overflow-x:auto}
footer{text-align:center;color:#888;font-size:12px;padding:10px}
"""


def esc(x: Any) -> str:
    """HTML-escaped text of ``x``."""
    return html.escape(str(x), quote=True)


def fmt(v: Any, digits: int = 3) -> str:
    """A metric value for a table: ``n/a`` for None/NaN, fixed digits for floats."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(png: bytes, alt: str) -> str:
    """An ``<img>`` element of PNG bytes."""
    return f'<img src="{data_uri(png)}" alt="{esc(alt)}">'


def figure(png: bytes, caption: str) -> str:
    """A captioned picture."""
    return f"<figure>{img(png, caption)}<figcaption>{esc(caption)}</figcaption></figure>"


def table(head: Sequence[str], rows: Iterable[Sequence[Any]],
          total: Sequence[Any] | None = None) -> str:
    """An HTML table (cells escaped); ``total`` is an emphasised last row."""
    out = ['<div class="scroll"><table><thead><tr>']
    out += [f"<th>{esc(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    if total is not None:
        out.append('<tr class="total">' + "".join(f"<td>{esc(c)}</td>" for c in total) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def section(anchor: str, title: str, body: str) -> str:
    """A page section with an anchor."""
    return (f'<section id="{esc(anchor)}"><h2><a href="#{esc(anchor)}">{esc(title)}</a></h2>'
            f"{body}</section>")


def page(header: Header, sections: list[tuple[str, str, str]], extra_meta: dict[str, str],
         labels: dict[str, str] | None = None) -> str:
    """The whole document: header with metadata and navigation, then the sections.

    ``extra_meta`` adds header lines; ``labels`` renames the ``model`` / ``run`` lines.
    """
    names = {"model": "model", "run": "run", **(labels or {})}
    meta = {names["model"]: header.model, names["run"]: header.run, "data": header.data,
            **extra_meta, "date": header.date, "mmae": header.version}
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta.items())
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(f'mmae {header.title}: {header.model}')}</title><style>{CSS}</style>"
            f"</head><body><header><h1>{esc(f'mmae {header.title}')}</h1>"
            f'<dl class="meta">{dl}</dl><nav>{nav}</nav></header><main>{body}</main>'
            f"<footer>written by mmae {esc(header.version)}</footer></body></html>\n")


def notes_html(notes: Sequence[str]) -> str:
    """Metric notes (why a value is n/a) as a small list."""
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"


def training_html(log: Sequence[dict[str, Any]]) -> str:
    """Training curves of every numeric key of ``train_log.jsonl`` and a first/last table.

    Scalar loss parts share one panel; every other key (throughput, list- or dict-valued
    diagnostics such as per-scale memory statistics) gets its own panel.
    """
    if not log:
        return "<p>No <code>train_log.jsonl</code> in the run folder.</p>"
    keys = list(dict.fromkeys(k for rec in log for k in rec if k != "epoch"))
    series = {k: rp.series_of(log, k) for k in keys}
    series = {k: s for k, s in series.items() if s}
    losses = {k: s[k] for k, s in series.items()
              if k in s and len(s) == 1 and not any(w in k for w in _NON_LOSS)}
    figs = []
    if losses:
        figs.append(figure(rp.training_png(losses, "loss parts", log_y=True),
                           "Loss parts per epoch (training data, log scale)"))
    for k, s in series.items():
        if k not in losses:
            figs.append(figure(rp.training_png(s, k), f"{k} per epoch"))
    rows = []
    for s in series.values():
        for name, (x, y) in s.items():
            rows.append([name, fmt(float(y[0]), 4), fmt(float(y[-1]), 4), fmt(float(x[-1]), 0)])
    return (f'<div class="grid">{"".join(figs)}</div><h3>First and last values</h3>'
            + table(["key", "first", "last", "last epoch"], rows))


def _tile(item: GalleryItem, vmin: float, vmax: float) -> list[tuple[bytes, str]]:
    image = item.image
    h, w = image.shape[:2]
    if item.mask is None:
        gt = np.full((h, w), 0.5)
    else:
        gt = cv2.resize((item.mask != 0).astype(np.uint8) * 255, (w, h),
                        interpolation=cv2.INTER_NEAREST)
    recon = item.recon if item.recon is not None else np.zeros_like(image)
    return [(rp.png_bytes(image), "input"),
            (rp.png_bytes(recon), "reconstruction" if item.recon is not None else "none"),
            (rp.png_bytes(plots.overlay(image, item.anomaly_map, vmin, vmax)), "heatmap"),
            (rp.png_bytes(gt), "ground truth" if item.mask is not None else "no mask")]


def gallery_html(gallery: dict[str, list[GalleryItem]], threshold: float | None,
                 map_range: tuple[float, float]) -> str:
    """Gallery rows: input | reconstruction | heatmap | ground truth, with score and threshold."""
    if not gallery:
        return "<p>No test images.</p>"
    cols = "".join(f'<div class="cols">{c}</div>'
                   for c in ("input", "reconstruction", "heatmap", "ground truth"))
    parts = [f"<p>Heatmap colours span {fmt(map_range[0], 4)} (blue) to {fmt(map_range[1], 4)} "
             f"(red) on every row; ground truth: anomalous pixels in white (grey: no mask).</p>"]
    for title, items in gallery.items():
        parts.append(f'<h3>{esc(title)}</h3><div class="items">')
        for it in items:
            if threshold is None:
                verdict = "no threshold stored"
            else:
                flagged = it.score >= threshold
                wrong = flagged != bool(it.label)
                verdict = (f'<span class="{"bad" if wrong else "ok"}">'
                           f'{"anomalous" if flagged else "normal"}</span> (score '
                           f'{"&ge;" if flagged else "&lt;"} threshold {threshold:.4g})')
            parts.append(f'<div><div class="rowhead"><b>{esc(it.name)}</b> &middot; '
                         f"{esc(it.defect)} &middot; score {it.score:.4g} &middot; {verdict}</div>")
            tiles = "".join(img(png, f"{it.name}: {what}")
                            for png, what in _tile(it, *map_range))
            parts.append(f'<div class="row">{cols}{tiles}</div></div>')
        parts.append("</div>")
    return "".join(parts)


def image_report_html(rep: ImageReport) -> str:
    """The report page of an image test."""
    m = rep.metrics
    lim = f"{rep.fpr_limit:g}"
    head = ["defect", "anomalous images", "image AUROC", "image F1-max", "pixel AUROC",
            f"AU-PRO@{lim}"]
    keys = ("image_auroc", "image_f1_max", "pixel_auroc", "au_pro")
    rows = [[d, r.get("num_images"), *(fmt(r.get(k)) for k in keys)]
            for d, r in m.get("per_defect", {}).items()]
    total = ["all", m.get("num_anomalous"), *(fmt(m.get(k)) for k in keys)]
    thr = ("none stored" if rep.threshold is None
           else f"{rep.threshold:.6g} ({rep.threshold_source})")
    layout = f" ({esc(m['layout'])} layout)" if m.get("layout") else ""
    metrics = (f"<p>{esc(m.get('num_images'))} test images{layout}, "
               f"{esc(m.get('num_anomalous'))} anomalous. Each defect row compares that "
               f"defect's images with all normal images. Image threshold: {esc(thr)}.</p>"
               + table(head, rows, total) + notes_html(m.get("notes", [])))
    figs = []
    if rep.roc_image:
        figs.append(figure(rp.curves_png([(c.x, c.y, c.label) for c in rep.roc_image],
                                         "false-positive rate", "true-positive rate",
                                         "Image-level ROC", diagonal=True),
                           "Image-level ROC curves"))
    if rep.roc_pixel:
        figs.append(figure(rp.curves_png([(c.x, c.y, c.label) for c in rep.roc_pixel],
                                         "false-positive rate", "true-positive rate",
                                         "Pixel-level ROC", diagonal=True),
                           "Pixel-level ROC curve"))
    if rep.pro is not None:
        figs.append(figure(rp.curves_png([(rep.pro.x, rep.pro.y, rep.pro.label)],
                                         "false-positive rate (normal pixels)",
                                         "per-region overlap", f"PRO curve up to FPR {lim}",
                                         x_max=rep.fpr_limit),
                           f"PRO curve on [0, {lim}]"))
    figs.append(figure(rp.score_histogram_png(rep.labels, rep.scores, rep.threshold),
                       "Image scores of normal and anomalous test images"))
    missing = "" if rep.roc_image else (
        "<p>No ROC curve: the test set needs both normal and anomalous images.</p>")
    sections = [("metrics", "Metrics", metrics),
                ("curves", "ROC and PRO curves",
                 f'{missing}<div class="grid">{"".join(figs)}</div>'),
                ("training", "Training", training_html(rep.train_log)),
                ("gallery", "Gallery", gallery_html(rep.gallery, rep.threshold, rep.map_range))]
    return page(rep.header, sections, {})


def video_report_html(rep: VideoReport) -> str:
    """The report page of a video test."""
    m = rep.metrics
    per = m.get("per_video_auc") or {}
    rows = []
    for name, lab, s in zip(rep.names, rep.labels, rep.scores):
        rows.append([name, len(lab), int(np.isfinite(s).sum()), int(np.asarray(lab).sum()),
                     fmt(per.get(name))])
    total = ["all (micro)", sum(len(lab) for lab in rep.labels), m.get("num_frames_scored"),
             sum(int(np.asarray(lab).sum()) for lab in rep.labels), fmt(m.get("frame_auc_micro"))]
    metrics = (f"<p>Frame AUC (micro, all frames pooled): <b>{fmt(m.get('frame_auc_micro'))}"
               f"</b>; macro (mean of per-video AUCs): <b>{fmt(m.get('frame_auc_macro'))}</b>. "
               f"Labels: {esc(m.get('label_source'))}; frame rule: "
               f"{esc(m.get('alignment_rule'))}.</p>"
               + table(["video", "frames", "scored", "anomalous frames", "frame AUC"], rows, total)
               + notes_html(m.get("notes", [])))
    figs = "".join(figure(rp.video_curve_png(s, lab, name),
                          f"{name}: anomaly score (1 - regularity); ground-truth anomalous "
                          f"frames shaded")
                   for name, s, lab in zip(rep.names, rep.scores, rep.labels))
    sections = [("metrics", "Frame AUC", metrics),
                ("videos", "Score curves", f'<div class="grid wide">{figs}</div>'),
                ("training", "Training", training_html(rep.train_log))]
    return page(rep.header, sections, {})


def write_report(path: Path, text: str) -> None:
    """Write a report page atomically."""
    atomic_write_text(Path(path), text)
