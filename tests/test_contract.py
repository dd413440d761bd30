"""Every registered model honours the contract: it builds from the cpu preset, trains one epoch,
exports to ONNX, and gives the same scores through `mmae test`, `mmae predict` (image files, or
the frames of a video), ``Inferencer.predict_frames`` (video), the Detector (images) and
onnxruntime (scores, and the post-processed image maps); the default threshold is the same in
predict, the Detector and the ONNX metadata."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import mmae
from mmae.config import accepts_setting
from mmae.data.video import ClipDataset, open_video_dataset
from mmae.inference.inferencer import Inferencer
from mmae.metrics import clip_scores_to_frames
from mmae.models.registry import get_spec

RTOL = 1e-5
# map_terms=model: each model's own map (the fitted terms, whose statistics ten tiny images
# barely determine, have their own test below)
TINY = {"epochs": 1, "batch_size": 4, "image_size": 32, "widths": [4, 8, 8, 8],
        "latent_dim": 16, "memory_size": 10, "clip_length": 8, "map_terms": "model"}


def _sets(model: str) -> list[str]:
    out = []
    for k, v in TINY.items():
        if accepts_setting(model, k):
            out += ["--set", f"{k}={json.dumps(v)}"]
    return out


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory):
    from mmae.data.synth.video import generate_synthetic_video

    return generate_synthetic_video(tmp_path_factory.mktemp("cv") / "v", seed=0,
                                    frame_size=(48, 64), num_train=2, num_test=1,
                                    train_frames=24, test_frames=30)


def _onnx(path):
    import onnx
    import onnxruntime as ort

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), meta


def _check_image(cli, tmp_path, run, data, scaled=False):
    """``scaled``: scores compared relative to their range (standardised scores are z-scores,
    whose zero is arbitrary: a score near 0 has no relative precision)."""
    test_rows = list(csv.DictReader(open(run / "test" / "scores.csv")))
    code, _, err = cli("predict", "--run", run, data / "test", "--out", tmp_path / "p",
                       "--quiet")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "p" / "scores.csv")))
    by_path = {r["path"]: float(r["score"]) for r in rows}
    paths = [r["path"] for r in test_rows]
    predicted = np.array([by_path[p] for p in paths])
    atol = RTOL * float(np.abs(predicted).max()) if scaled else 0.0
    np.testing.assert_allclose([float(r["score"]) for r in test_rows], predicted, rtol=RTOL,
                               atol=atol)
    det = mmae.Detector.load(run)
    np.testing.assert_allclose(det.decision_function(paths), predicted, rtol=RTOL, atol=atol)
    sess, meta = _onnx(tmp_path / "m.onnx")
    inf = Inferencer.load(run)
    from mmae.data.image_io import read_image

    images = [read_image(p, inf.config.channels) for p in paths]
    x = inf.image_batch(images).numpy()
    got_map, got = sess.run(["anomaly_map", "pred_score"], {"image": x})
    np.testing.assert_allclose(got, predicted, rtol=RTOL, atol=atol)
    maps = inf.predict_images(images).maps
    # relative to the map's range: pixels near zero carry the float32 rounding of the larger ones
    np.testing.assert_allclose(got_map, maps, rtol=RTOL, atol=RTOL * float(maps.max()))
    threshold = float(rows[0]["threshold"])
    assert det.threshold_ == threshold == float(meta["threshold"])


def _check_video(cli, tmp_path, run, data):
    inf = Inferencer.load(run)
    cfg = inf.config
    raw = open_video_dataset(data, "test")  # native-size frames, converted by predict_frames
    frames = raw.frames(0)
    name = raw.videos[0].name
    test_rows = list(csv.DictReader(open(run / "test" / "curves" / f"{name}.csv")))
    tested = np.array([float(r["error"]) if r["error"] else np.nan for r in test_rows])
    streamed = list(inf.predict_frames(iter(frames), batch_size=3))
    assert [t for t, _ in streamed] == list(range(len(frames)))
    s = np.array([v for _, v in streamed])
    np.testing.assert_array_equal(np.isnan(s), np.isnan(tested))
    np.testing.assert_allclose(s[~np.isnan(s)], tested[~np.isnan(tested)], rtol=RTOL)
    code, _, err = cli("predict", "--run", run, data / "Test" / name, "--out", tmp_path / "p",
                       "--quiet")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "p" / "frames.csv")))
    assert [int(r["frame"]) for r in rows] == list(range(len(frames)))
    predicted = np.array([float(r["score"]) for r in rows])
    np.testing.assert_array_equal(np.isnan(predicted), np.isnan(tested))
    np.testing.assert_allclose(predicted[~np.isnan(s)], tested[~np.isnan(tested)], rtol=RTOL)
    sess, meta = _onnx(tmp_path / "m.onnx")
    vds = inf.task.open("test")
    clips = ClipDataset(vds, cfg.clip_length, cfg.test_clip_stride, cover_end=True)
    idx = clips.clips_of(0)
    x = torch.stack([clips[k]["clip"] for k in idx]).numpy()
    errs = sess.run(["pred_score"], {"clip": x})[0]
    starts = np.array([clips.clip_index[k][1] for k in idx])
    onnx_frames = clip_scores_to_frames(errs, len(frames), cfg.clip_length, starts=starts,
                                        rule=cfg.frame_rule).scores
    np.testing.assert_allclose(onnx_frames[~np.isnan(s)], s[~np.isnan(s)], rtol=RTOL)
    assert inf.threshold is not None and float(meta["threshold"]) == inf.threshold


@pytest.mark.slow
@pytest.mark.parametrize("model", mmae.list_models())
def test_model_contract(model, cli, tmp_path, tiny_mvtec, tiny_video, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    video = get_spec(model).kind == "video"
    data = tiny_video if video else tiny_mvtec
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", data, "--model", model, "--out", run, "--quiet",
                       *_sets(model))
    assert code == 0, err
    code, _, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    assert json.loads((run / "test" / "metrics.json").read_text())["model"] == model
    code, _, err = cli("export", "--run", run, "--out", tmp_path / "m.onnx", "--quiet")
    assert code == 0, err
    (_check_video if video else _check_image)(cli, tmp_path, run, data)


# fitted post-processing: every term, both standardisations, video clip reduction
FITTED = [
    ("mmae", {"map_terms": "model+feature+gaussian+knn", "standardize": "position",
              "feature_fit": "position", "knn_bank": 64, "feature_scales": 2,
              "gaussian_ridge": 0.003}),
    ("ae", {"map_terms": "ssim+gradient+gaussian", "standardize": "pooled"}),
    ("patch_pca", {"map_terms": "model+ssim+gradient", "standardize": "position"}),
    ("mmae3d", {"standardize": "position", "clip_reduce": "topk_mean"}),
]


@pytest.fixture(scope="module")
def normal_mvtec(tmp_path_factory):
    """A tiny category with enough normal images (48) to determine the fitted statistics."""
    from conftest import write_tiny_mvtec

    return write_tiny_mvtec(tmp_path_factory.mktemp("fit") / "data", n_train=48)


@pytest.mark.slow
@pytest.mark.parametrize(("model", "settings"), FITTED, ids=[m for m, _ in FITTED])
def test_fitted_postprocess_contract(model, settings, cli, tmp_path, normal_mvtec, tiny_video,
                                     monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    video = get_spec(model).kind == "video"
    data = tiny_video if video else normal_mvtec
    run = tmp_path / "run"
    extra = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    code, _, err = cli("train", "--data", data, "--model", model, "--out", run, "--quiet",
                       *_sets(model), *extra)
    assert code == 0, err
    assert (run / "postprocess.pt").is_file()
    code, _, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    code, _, err = cli("export", "--run", run, "--out", tmp_path / "m.onnx", "--quiet")
    assert code == 0, err
    if video:
        _check_video(cli, tmp_path, run, data)
    else:
        _check_image(cli, tmp_path, run, data, scaled=True)
    _, meta = _onnx(tmp_path / "m.onnx")
    assert meta["standardize"] == settings["standardize"] and meta["postprocess_fit"] == "train"
    if not video:
        assert meta["value_range"].startswith("[0, 1]") and "INTER_AREA" in meta["resize"]
