"""A tiled run end to end: training on tiles, and the same stitched scores from ``mmae test``,
``mmae predict``, the Detector, ``mmae serve`` and the ONNX graph with its tiling metadata."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import write_tiny_mvtec
from scipy.ndimage import gaussian_filter

from mmae.cli.main import main
from mmae.config import parse_set
from mmae.data.image_io import read_image, resize_image
from mmae.detector import Detector
from mmae.inference.inferencer import Inferencer
from mmae.runs.run import Run
from mmae.tasks import get_task

pytestmark = pytest.mark.slow

SIDE, TILE, OVERLAP, MODEL = 48, 20, 6, 16  # tiles start at 0, 14, 28 on each axis
SETTINGS = ["epochs=2", f"image_size={MODEL}", "batch_size=8", "num_scales=2", "latent_dim=8",
            "widths=[8,8,8]", f"tile_size={TILE}", f"tile_overlap={OVERLAP}",
            "map_terms=model"]  # the model's own map: written out by hand below


@pytest.fixture(scope="module")
def tiled_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiles")
    data = write_tiny_mvtec(root / "data", n_train=6, n_test=4, size=SIDE)
    run = root / "run"
    sets = [a for s in SETTINGS for a in ("--set", s)]
    assert main(["train", "--data", str(data), "--out", str(run), "--quiet", *sets]) == 0
    assert main(["test", "--run", str(run), "--quiet"]) == 0
    return run, data


def _by_hand(run: Path, path: Path) -> tuple[np.ndarray, float]:
    """The stitched map and max score of one image, written out independently (each tile's map
    smoothed by scipy at model resolution, resized to the tile, blended by the ramp weights)."""
    inf = Inferencer.load(run)
    sigma = inf.config.smoothing_sigma
    img = read_image(path, inf.config.channels)
    starts = [0, 14, 28]
    w1 = np.array([min(1, (i + 0.5) / OVERLAP, (TILE - i - 0.5) / OVERLAP) for i in range(TILE)])
    acc, norm = np.zeros((SIDE, SIDE)), np.zeros((SIDE, SIDE))
    for y in starts:
        for x in starts:
            tile = resize_image(img[y : y + TILE, x : x + TILE], MODEL)
            t = torch.from_numpy(tile).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                m = inf.model(t).anomaly_map.double()[0, 0].numpy()
            m = torch.from_numpy(gaussian_filter(m, sigma, mode="nearest", truncate=4.0))
            m = F.interpolate(m[None, None], size=(TILE, TILE), mode="bilinear",
                              align_corners=False)[0, 0]
            acc[y : y + TILE, x : x + TILE] += np.outer(w1, w1) * m.numpy()
            norm[y : y + TILE, x : x + TILE] += np.outer(w1, w1)
    stitched = acc / norm
    return stitched, float(stitched.max())


def test_training_iterates_the_tiles_of_the_good_images(tiled_run):
    run, data = tiled_run
    cfg = Run(run).config()
    assert (cfg.tile_size, cfg.tile_overlap, cfg.image_size) == (TILE, OVERLAP, MODEL)
    task = get_task(cfg)
    train_part, val_part = task.split(task.open("train", progress=False))
    tiles = task.training_set(train_part)
    assert len(tiles) == 9 * len(train_part) and val_part is not None
    first = read_image(train_part.records[0].path, cfg.channels)
    expected = resize_image(first[14:34, 28:48], MODEL)  # the 6th tile of the first image
    np.testing.assert_array_equal(tiles.images[5].permute(1, 2, 0).numpy(), expected)
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(np.isfinite(r["loss"]) for r in log)


def test_test_predict_detector_serve_give_the_stitched_scores(tiled_run, tmp_path):
    run, data = tiled_run
    with open(run / "test" / "scores.csv") as fh:
        tested = {Path(r["path"]).name + r["defect"]: float(r["score"]) for r in csv.DictReader(fh)}
    spot = sorted((data / "test" / "spot").iterdir())
    out = tmp_path / "pred"
    assert main(["predict", "--run", str(run), str(data / "test" / "spot"), "--out", str(out),
                 "--quiet"]) == 0
    with open(out / "scores.csv") as fh:
        predicted = [float(r["score"]) for r in csv.DictReader(fh)]
    det = Detector.load(run)
    images = [read_image(p) for p in spot]
    detector = det.decision_function(images)
    maps = det.anomaly_maps(images)
    for k, p in enumerate(spot):
        stitched, score = _by_hand(run, p)
        assert tested[p.name + "spot"] == pytest.approx(score, rel=1e-5)
        assert predicted[k] == pytest.approx(score, rel=1e-5)
        assert detector[k] == pytest.approx(score, rel=1e-5)
        assert maps[k].shape == (SIDE, SIDE)
        np.testing.assert_allclose(maps[k], stitched, rtol=1e-4, atol=1e-6)
    pytest.importorskip("fastapi", reason="mmae serve needs the 'serve' extra")
    pytest.importorskip("httpx", reason="the serve test needs httpx")
    from fastapi.testclient import TestClient

    from mmae.serve import create_app

    with TestClient(create_app(Inferencer.load(run))) as client:
        for k, p in enumerate(spot):
            r = client.post("/predict", files={"file": (p.name, p.read_bytes(), "image/png")})
            assert r.status_code == 200, r.text
            assert r.json()["score"] == pytest.approx(predicted[k], rel=1e-6)


def test_test_metrics_come_from_full_resolution_maps(tiled_run):
    run, _ = tiled_run
    metrics = json.loads((run / "test" / "metrics.json").read_text())
    assert metrics["num_images"] == 8 and metrics["au_pro"] is not None
    assert (run / "test" / "grid.png").is_file() and (run / "test" / "report.html").is_file()


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None
                    or importlib.util.find_spec("onnxscript") is None,
                    reason="the onnx extra is not installed")
def test_onnx_scores_one_tile_and_its_metadata_says_how_to_tile(tiled_run, tmp_path):
    import onnx
    import onnxruntime as ort

    run, data = tiled_run
    path = tmp_path / "m.onnx"
    assert main(["export", "--run", str(run), "--out", str(path), "--quiet"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert (meta["tile_size"], meta["tile_overlap"], meta["image_size"]) == ("20", "6", "16")
    assert "tile_overlap" in meta["tiling"] and "score_reduce" in meta["tiling"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[2:] == [MODEL, MODEL]
    p = sorted((data / "test" / "spot").iterdir())[0]
    img = read_image(p, int(meta["channels"]))
    stitched, score = _by_hand(run, p)
    # the recipe of the metadata, with the graph scoring each tile
    t, o = int(meta["tile_size"]), int(meta["tile_overlap"])
    starts = list(range(0, SIDE - t + 1, t - o))
    starts += [SIDE - t] if starts[-1] != SIDE - t else []
    acc, norm = np.zeros((SIDE, SIDE)), np.zeros((SIDE, SIDE))
    w1 = np.minimum(1, np.minimum((np.arange(t) + 0.5) / o, (t - np.arange(t) - 0.5) / o))
    for y in starts:
        for x in starts:
            tile = resize_image(img[y : y + t, x : x + t], MODEL)
            x_in = tile.transpose(2, 0, 1)[None].astype(np.float32) / 255
            m = sess.run(["anomaly_map"], {"image": x_in})[0]
            m = F.interpolate(torch.from_numpy(m)[:, None], size=(t, t), mode="bilinear",
                              align_corners=False)[0, 0].numpy()
            acc[y : y + t, x : x + t] += np.outer(w1, w1) * m
            norm[y : y + t, x : x + t] += np.outer(w1, w1)
    assert float((acc / norm).max()) == pytest.approx(score, rel=1e-4)


def test_detector_fits_tiles_of_arrays_and_maps_keep_the_image_size(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:56] / 56
    good = [(np.clip(0.3 + 0.4 * xx * a + 0.1 * yy + rng.normal(0, 0.01, xx.shape), 0, 1)
             * 255).astype(np.uint8) for a in rng.uniform(0.5, 1.0, 6)]
    det = Detector(settings=parse_set(SETTINGS), run_dir=tmp_path / "run")
    det.fit(good)
    bad = good[0].copy()
    bad[10:18, 30:38] = 255
    maps = det.anomaly_maps([good[1], bad])
    assert [m.shape for m in maps] == [(40, 56), (40, 56)]
    scores = det.decision_function([good[1], bad])
    assert scores[1] > scores[0]
    assert float(maps[1][10:18, 30:38].mean()) > float(maps[1].mean())
    assert det.decision_scores_.shape == (6,)


def test_benchmark_quick_mode_compares_both_modes():
    spec = importlib.util.spec_from_file_location(
        "bench_tiles", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_tiles.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.bench(bench.QUICK, modes=("resize", "tiles", "full"))
    assert [r["mode"] for r in results] == ["resize", "tiles", "full"]
    assert any("tile_size=48" in s for s in results[1]["settings"])
    assert "image_size=96" in results[2]["settings"]
    for r in results:
        for key in ("au_pro", "image_auroc", "pixel_auroc"):
            assert 0.0 <= r[key] <= 1.0, r
        assert r["train_s"] > 0 and r["test_s"] > 0
    text = bench.section(results, bench.QUICK, "bench_tiles.py --quick", 1, 0.0)
    assert text.startswith(bench.SECTION) and "| tiles |" in text and "| full |" in text
    assert "whole image at its own 96 px" in text
