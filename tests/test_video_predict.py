"""``mmae predict`` on a video run: frames.csv equals `mmae test`'s curves, streaming, overlays."""

from __future__ import annotations

import csv
import json
import math
import shutil
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmae.cli.main import main
from mmae.data.synth.video import generate_synthetic_video
from mmae.inference.inferencer import Inferencer
from mmae.inference.video_predict import predict_video_inputs


@pytest.fixture(scope="module")
def video_run(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny trained mmae3d run and its synthetic Ped2-layout dataset."""
    root = tmp_path_factory.mktemp("vp")
    data = generate_synthetic_video(root / "data", seed=0, num_train=2, num_test=2,
                                    train_frames=40, test_frames=50)
    run = root / "run"
    assert main(["train", "--data", str(data), "--model", "mmae3d", "--out", str(run),
                 "--set", "epochs=1", "--quiet"]) == 0
    return run, data


def _with_rule(run: Path, rule: str, dest: Path) -> Path:
    if rule == "mean":
        return run
    shutil.copytree(run, dest)
    cfg = dest / "config.yaml"
    cfg.write_text(cfg.read_text().replace("frame_rule: mean", f"frame_rule: {rule}"))
    return dest


def _write_video(path: Path, frames: int, size: int = 32, seed: int = 0) -> Path:
    """A video of a bright square moving over noise (mp4v)."""
    rng = np.random.default_rng(seed)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (size, size))
    assert w.isOpened()
    for t in range(frames):
        f = rng.integers(60, 90, (size, size, 3), dtype=np.uint8)
        x = (2 * t) % (size - 6)
        f[10:16, x : x + 6] = 230
        w.write(f)
    w.release()
    return path


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["mean", "center"])
def test_predict_frames_equal_test_curves(video_run, tmp_path, rule):
    run, data = video_run
    run = _with_rule(run, rule, tmp_path / "run_center")
    assert main(["test", "--run", str(run), "--out", str(tmp_path / "test"), "--quiet"]) == 0
    tests = [data / "Test" / "Test001", data / "Test" / "Test002"]
    out = tmp_path / "pred"
    assert main(["predict", "--run", str(run), *map(str, tests), "--out", str(out),
                 "--quiet"]) == 0
    with open(out / "frames.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["video", "frame", "score", "anomalous"]
        rows = list(reader)
    threshold = Inferencer.load(run).threshold
    assert threshold is not None
    for video in ("Test001", "Test002"):
        mine = [r for r in rows if r["video"] == video]
        ref = list(csv.DictReader(open(tmp_path / "test" / "curves" / f"{video}.csv")))
        assert [int(r["frame"]) for r in mine] == list(range(50)) == [int(r["frame"])
                                                                       for r in ref]
        for m, r in zip(mine, ref):
            score = float(m["score"])
            if r["scored"] == "0":
                assert math.isnan(score) and m["anomalous"] == ""
            else:
                assert score == pytest.approx(float(r["error"]), rel=1e-6)
                assert m["anomalous"] == str(int(score >= threshold))
        unscored = [math.isnan(float(m["score"])) for m in mine]
        expected = [False] * 50 if rule == "mean" else [True] * 8 + [False] * 35 + [True] * 7
        assert unscored == expected
        assert (out / "plots" / f"{video}.png").stat().st_size > 0


def _f1(labels: np.ndarray, pred: np.ndarray) -> float:
    tp = int((pred & (labels == 1)).sum())
    return 2 * tp / (int(pred.sum()) + int(labels.sum()))


@pytest.mark.slow
def test_threshold_rule_f1_after_mmae_test(video_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(video_run[0], run)
    path = run / "thresholds.json"  # as trained (another test may have run `mmae test` on it)
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items()
                                if k != "f1"}))
    tests = [str(video_run[1] / "Test" / "Test001"), str(video_run[1] / "Test" / "Test002")]
    pred = ["predict", "--run", str(run), *tests, "--quiet", "--threshold-rule", "f1"]
    assert main([*pred, "--out", str(tmp_path / "before")]) == 2  # no f1 threshold yet
    assert main(["test", "--run", str(run), "--out", str(tmp_path / "test"), "--quiet"]) == 0
    stored = json.loads((run / "thresholds.json").read_text())
    assert stored["default"] == "normal"  # mmae test never changes the default
    f1 = stored["f1"]["value"]
    assert Inferencer.load(run).threshold == stored["normal"]["value"] != f1
    assert Inferencer.load(run, threshold_rule="f1").threshold == f1
    # F1-max over the scored test frames, by brute force over every candidate threshold
    rows = [r for v in ("Test001", "Test002")
            for r in csv.DictReader(open(tmp_path / "test" / "curves" / f"{v}.csv"))
            if r["scored"] == "1"]
    err = np.array([float(r["error"]) for r in rows])
    lab = np.array([int(r["label"]) for r in rows])
    assert 0 < lab.sum() < lab.size
    best = max(_f1(lab, err >= t) for t in err)
    assert _f1(lab, err >= f1) == pytest.approx(best, abs=1e-12)
    assert json.loads((tmp_path / "test" / "metrics.json").read_text())[
        "frame_threshold"]["value"] == f1
    assert main([*pred, "--out", str(tmp_path / "after")]) == 0
    out = list(csv.DictReader(open(tmp_path / "after" / "frames.csv", newline="")))
    assert len(out) == 100
    for r in out:
        assert r["anomalous"] == str(int(float(r["score"]) >= f1))
    assert any(r["anomalous"] == "1" for r in out) and any(r["anomalous"] == "0" for r in out)


@pytest.mark.slow
def test_long_video_file_one_row_per_frame_and_overlay(video_run, tmp_path):
    run, _ = video_run
    video = _write_video(tmp_path / "long.mp4", 300)
    out = tmp_path / "pred"
    assert main(["predict", "--run", str(run), str(video), "--out", str(out), "--overlay",
                 "--quiet"]) == 0
    rows = list(csv.DictReader(open(out / "frames.csv", newline="")))
    assert [int(r["frame"]) for r in rows] == list(range(300))
    assert {r["video"] for r in rows} == {"long"}
    assert all(np.isfinite(float(r["score"])) for r in rows)  # mean rule: every frame scored
    cap = cv2.VideoCapture(str(out / "overlays" / "long.mp4"))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 300


def test_video_shorter_than_a_clip_gets_nan_rows(video_run, tmp_path):
    run, data = video_run
    short = tmp_path / "short"
    short.mkdir()
    for f in sorted((data / "Test" / "Test001").iterdir())[:5]:
        shutil.copy(f, short / f.name)
    out = tmp_path / "pred"
    assert main(["predict", "--run", str(run), str(short), "--out", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(open(out / "frames.csv", newline="")))
    assert [r["frame"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert all(r["score"] == "nan" and r["anomalous"] == "" for r in rows)


def _peak_bytes(inferencer: Inferencer, video: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        predict_video_inputs(inferencer, [video], out, progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_video_length(video_run, tmp_path):
    run, _ = video_run
    inferencer = Inferencer.load(run)
    short = _write_video(tmp_path / "short.mp4", 150, size=64)
    long = _write_video(tmp_path / "long.mp4", 600, size=64)
    _peak_bytes(inferencer, short, tmp_path / "warm")  # first-call allocations (imports, caches)
    p_short = _peak_bytes(inferencer, short, tmp_path / "a")
    p_long = _peak_bytes(inferencer, long, tmp_path / "b")
    held = 450 * 64 * 64 * 3  # what keeping the 450 extra decoded frames would cost
    assert p_long - p_short < held / 10, (p_short, p_long)
