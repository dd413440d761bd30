"""report.html: self-contained pages (parsed), rendered in headless Chromium, and their data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tiny_mvtec
from report_check import find_chromium, render, static_problems
from sklearn.metrics import auc, roc_auc_score

from mmae import metrics as M
from mmae.benchmark.report import benchmark_report_html, markdown_tables_html
from mmae.cli.main import main
from mmae.metrics.curve import trapezoid_to_limit
from mmae.report import data as R
from mmae.report.charts import series_of
from mmae.report.html import image_report_html, video_report_html
from mmae.runs.run import Run

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium); "
                             "report.html is not rendered")


@pytest.fixture(scope="module")
def tested_run(tmp_path_factory) -> Path:
    """A tiny trained and tested image run (its test folder holds report.html)."""
    root = tmp_path_factory.mktemp("report")
    data = write_tiny_mvtec(root / "data")
    run = root / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--quiet", "--set", "epochs=2",
                 "--set", "image_size=32", "--set", "num_scales=2", "--set", "latent_dim=32"]) == 0
    assert main(["test", "--run", str(run), "--quiet"]) == 0
    return run


def _log() -> list[dict]:
    return [{"epoch": e, "loss": 1.0 / e, "mse": 0.9 / e, "samples_per_s": 100.0 + e,
             "zero_row_fraction": [0.1 * e, 0.0], "grad_norm": {"encoder": 2.0, "memory": e},
             "fuser_weight": [0.5, 0.5]} for e in (1, 2, 3)]


def _synthetic_image_report() -> R.ImageReport:
    rng = np.random.default_rng(0)
    labels = np.array([0] * 6 + [1] * 6)
    defects = ["good"] * 6 + ["spot"] * 3 + ["scratch"] * 3
    masks = [np.zeros((16, 16), np.uint8) for _ in range(12)]
    for m in masks[6:]:
        m[4:9, 5:10] = 1
    maps = [rng.random((16, 16)) + 2 * m for m in masks]
    scores = np.array([m.max() for m in maps])
    picks = R.gallery_indices(labels, scores, k=2)
    gallery = {t: [R.GalleryItem(f"{i}.png", defects[i], int(labels[i]), float(scores[i]),
                                 rng.random((16, 16, 3)), rng.random((16, 16, 3)), maps[i],
                                 masks[i]) for i in idx] for t, idx in picks.items()}
    metrics = {"num_images": 12, "num_anomalous": 6, **M.image_metrics(labels, scores, masks, maps),
               "per_defect": {"scratch": {"num_images": 3, "image_auroc": 0.5},
                              "spot": {"num_images": 3, "image_auroc": 1.0}}}
    return R.ImageReport(
        R.Header("test report", "mmae", "runs/x", "data/x"), metrics, labels, scores, 2.5,
        "image_validation", R.image_roc_curves(labels, scores, defects),
        R.pixel_roc_curve(masks, maps, metrics["pixel_auroc"]), R.pro_curve(masks, maps, 0.3),
        0.3, _log(), gallery, (0.0, 3.0))


def test_image_page_is_self_contained_and_complete() -> None:
    text = image_report_html(_synthetic_image_report())
    problems, images = static_problems(text)
    assert problems == []
    # 4 curve plots + 5 training panels (loss parts, samples_per_s and one per list- or
    # dict-valued key) + 3 gallery groups x 2 rows x 4 tiles
    assert len(images) == 4 + 5 + 3 * 2 * 4
    assert all(im.width > 0 and im.height > 0 for im in images)
    for anchor in ('id="metrics"', 'id="curves"', 'id="training"', 'id="gallery"'):
        assert anchor in text
    for key in ("zero_row_fraction[1]", "grad_norm.memory", "fuser_weight[0]"):
        assert key in text  # every numeric train-log series is listed
    assert "<td>spot</td><td>3</td><td>1.000</td>" in text
    assert "Worst misses" in text and "threshold 2.5" in text


def test_image_page_without_masks_anomalies_or_threshold() -> None:
    rng = np.random.default_rng(2)
    labels, scores = np.zeros(5, dtype=int), rng.random(5)
    picks = R.gallery_indices(labels, scores, k=3)
    assert [len(v) for v in picks.values()] == [3, 0, 0]
    items = [R.GalleryItem("a.png", "good", 0, float(scores[i]), rng.random((8, 8, 1)), None,
                           rng.random((8, 8)), None) for i in picks[next(iter(picks))]]
    rep = R.ImageReport(R.Header("test report", "ae", "r", "d"),
                        {"num_images": 5, "num_anomalous": 0, "notes": ["no anomalous image"]},
                        labels, scores, None, "none",
                        R.image_roc_curves(labels, scores, ["good"] * 5), [], None, 0.3, [],
                        {"Worst false positives": items}, (0.0, 1.0))
    assert rep.roc_image == []
    text = image_report_html(rep)
    problems, images = static_problems(text)
    assert problems == [] and len(images) == 1 + 3 * 4  # histogram, gallery
    assert "no threshold stored" in text and "No ROC curve" in text and "no anomalous image" in text


def test_problems_are_found() -> None:
    bad = ('<html><head><link rel="stylesheet" href="https://cdn.example/x.css"></head><body>'
           '<img src="data:image/png;base64,AAAA"><a href="#nowhere">x</a>'
           '<div style="background:url(x.png)"></div><script src="a.js"></script></body></html>')
    problems, images = static_problems(bad)
    assert images == [] and len(problems) >= 6


def test_video_page() -> None:
    scores = [np.r_[np.full(3, np.nan), np.linspace(0, 1, 40)], np.linspace(1, 0, 30)]
    labels = [np.r_[np.zeros(23), np.ones(20)], np.zeros(30)]
    rep = R.VideoReport(R.Header("test report", "mmae3d", "r", "d"),
                        {"frame_auc_micro": 0.75, "frame_auc_macro": 0.8, "num_frames_scored": 70,
                         "per_video_auc": {"v1": 0.8}, "notes": ["v2 skipped"]},
                        ["v1", "v2"], scores, labels, [])
    text = video_report_html(rep)
    problems, images = static_problems(text)
    assert problems == [] and len(images) == 2  # one score curve per video, no training log
    assert "<td>v1</td><td>43</td><td>40</td><td>20</td><td>0.800</td>" in text
    assert "<td>v2</td><td>30</td><td>30</td><td>0</td><td>n/a</td>" in text
    assert "No <code>train_log.jsonl</code>" in text


def test_benchmark_page() -> None:
    cells = [{"model": m, "category": c, "seed": 0, "status": "done", "au_pro": v,
              "image_auroc": v,
              "pixel_auroc": v, "train_seconds": 1.0, "test_seconds": 1.0}
             for (m, c), v in {("ae", "grid"): 0.5, ("vae", "grid"): 0.7,
                               ("ae", "tiny"): 0.9}.items()]
    cells.append({"model": "vae", "category": "tiny", "seed": 0, "status": "failed",
                  "error": "Boom"})
    results = {"benchmark": {"kind": "image", "data": "d", "models": ["ae", "vae"],
                             "categories": ["grid", "tiny"], "preset": "cpu", "sets": {}},
               "environment": {"mmae": "0"}, "cells": cells}
    text = benchmark_report_html(results, "bench")
    problems, images = static_problems(text)
    assert problems == [] and len(images) == 1  # the bar chart
    assert text.count("<table>") == 3 + 1 + 2  # three metric tables, cells, set-up, machine
    assert "<strong>0.700</strong>" in text and "Boom" in text
    assert 'href="cells/grid/ae/seed0/test/report.html"' in text


def test_markdown_tables() -> None:
    md = "Head **x** <b>.\n\n| a | b |\n|---|---:|\n| 1 | **2** |\n"
    assert markdown_tables_html(md) == (
        "<p>Head <strong>x</strong> &lt;b&gt;.</p><div class=\"scroll\"><table><thead><tr>"
        "<th>a</th><th style=\"text-align:right\">b</th></tr></thead><tbody><tr><td>1</td>"
        "<td style=\"text-align:right\"><strong>2</strong></td></tr></tbody></table></div>")


def test_gallery_indices_and_series() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.9, 0.5, 0.2, 0.8, 0.7])
    picks = list(R.gallery_indices(labels, scores, k=2).values())
    assert picks == [[1, 2], [3, 5], [4, 5]]
    s = series_of(_log(), "grad_norm")
    assert list(s) == ["grad_norm.encoder", "grad_norm.memory"]
    np.testing.assert_array_equal(s["grad_norm.memory"][1], [1, 2, 3])
    assert list(series_of(_log(), "zero_row_fraction")) == ["zero_row_fraction[0]",
                                                            "zero_row_fraction[1]"]


def test_curves_match_the_metrics(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    masks = [(rng.random((20, 20)) < 0.1).astype(np.uint8) for _ in range(6)]
    maps = [rng.random((20, 20)) + 0.7 * m for m in masks]
    exact = roc_auc_score(np.concatenate([m.ravel() for m in masks]),
                          np.concatenate([a.ravel() for a in maps]))
    (c,) = R.pixel_roc_curve(masks, maps, exact)
    assert auc(c.x, c.y) == pytest.approx(exact, abs=1e-12)
    monkeypatch.setattr(R, "_EXACT_PIXEL_ROC", 0)  # the binned curve of large pixel sets
    (b,) = R.pixel_roc_curve(masks, maps, exact)
    # binning only turns pairs in one of 4096 bins into ties (counted 1/2): here
    # P(same bin) ~ 1 / 4096 and the error is at most half of it
    assert auc(b.x, b.y) == pytest.approx(exact, abs=1.25e-4)
    pro = R.pro_curve(masks, maps, 0.3)
    value = M.au_pro(masks, maps, 0.3)
    assert pro.x[-1] == pytest.approx(0.3)
    assert trapezoid_to_limit(pro.x, pro.y, 0.3) / 0.3 == pytest.approx(value, abs=1e-12)
    assert R.pro_curve([np.zeros((4, 4))], [np.ones((4, 4))], 0.3) is None


def test_read_train_log(tmp_path) -> None:
    (tmp_path / "train_log.jsonl").write_text(
        '{"epoch": 1, "loss": 2}\n{"epoch": 2, "loss": 1}\nnot json\n{"epoch": 2, "loss": 0.5}\n')
    assert R.read_train_log(tmp_path) == [{"epoch": 1, "loss": 2}, {"epoch": 2, "loss": 0.5}]
    assert R.read_train_log(tmp_path / "none") == []


def test_mmae_test_writes_a_self_contained_report(tested_run: Path) -> None:
    text = (tested_run / "test" / "report.html").read_text(encoding="utf-8")
    problems, images = static_problems(text)
    assert problems == []
    metrics = json.loads((tested_run / "test" / "metrics.json").read_text())
    assert f"<td>{metrics['au_pro']:.3f}</td>" in text
    # 4 curves; 5 training panels (loss parts, samples/s, zero rows, grad norms per module
    # group, fuser weights); gallery: 6 normal and 6 anomalous images, k=4 per group
    log = json.loads((tested_run / "train_log.jsonl").read_text().splitlines()[-1])
    assert {"grad_norm", "fuser_weight", "zero_row_fraction", "samples_per_s"} <= set(log)
    assert len(images) == 4 + 5 + 4 * (4 + 4 + 4)
    assert "PRO curve on [0, 0.3]" in text and "Worst false positives" in text
    # the threshold shown is the one predict uses (the run's default, not the test's F1 one)
    value, source = Run(tested_run).threshold()
    assert source == "normal" and f"Image threshold: {value:.6g} (normal)." in text
    assert f"threshold {value:.4g})" in text  # each gallery row's verdict uses it too


@needs_chromium
def test_report_renders_in_chromium(tested_run: Path) -> None:
    page = tested_run / "test" / "report.html"
    _, images = static_problems(page.read_text(encoding="utf-8"))
    result, console = render(page, CHROMIUM)
    assert result["errors"] == [] and console == []
    assert result["broken"] == []
    assert result["images"] == len(images) > 0


@needs_chromium
def test_chromium_check_catches_broken_pages(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                    "content=\"default-src 'none'; img-src data:\"></head><body>"
                    '<img alt="corrupt" src="data:image/png;base64,AAAA">'
                    '<img alt="remote" src="http://example.invalid/x.png"></body></html>')
    result, console = render(page, CHROMIUM)
    assert sorted(result["broken"]) == ["corrupt", "remote"]
    assert any("csp" in e for e in result["errors"]) and console
