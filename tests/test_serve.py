"""``mmae serve``: /health, /predict equal to `mmae predict`, bad uploads, batching under load."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import math
import shutil
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="mmae serve needs the 'serve' extra (fastapi)")
pytest.importorskip("uvicorn", reason="mmae serve needs the 'serve' extra (uvicorn)")
httpx = pytest.importorskip("httpx", reason="the serve tests need httpx (the 'test' extra)")
from conftest import write_tiny_mvtec  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mmae import __version__  # noqa: E402
from mmae.cli.main import main  # noqa: E402
from mmae.inference.inferencer import Inferencer  # noqa: E402
from mmae.serve import create_app  # noqa: E402


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("serve")
    data = write_tiny_mvtec(root / "data")
    run = root / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--model", "mmae", "--quiet",
                 "--set", "epochs=2", "--set", "image_size=32", "--set", "num_scales=2",
                 "--set", "latent_dim=32"]) == 0
    return run, data


@pytest.fixture(scope="module")
def inferencer(image_run) -> Inferencer:
    return Inferencer.load(image_run[0])


def _png(path: Path) -> bytes:
    return path.read_bytes()


def test_health_describes_the_run(inferencer):
    with TestClient(create_app(inferencer)) as client:
        r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["kind"] == "image" and body["model"] == "mmae"
    assert body["threshold"] == inferencer.threshold and body["version"] == __version__


def test_predict_equals_mmae_predict(image_run, inferencer, tmp_path):
    run, data = image_run
    spot = data / "test" / "spot"
    assert main(["predict", "--run", str(run), str(spot), "--out", str(tmp_path / "p"),
                 "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "p" / "scores.csv", newline="")))
    assert len(rows) == 6
    with TestClient(create_app(inferencer)) as client:
        for row in rows:
            path = Path(row["path"])
            r = client.post("/predict", files={"file": (path.name, _png(path), "image/png")})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["score"] == pytest.approx(float(row["score"]), rel=1e-6)
            assert body["threshold"] == float(row["threshold"])
            assert int(body["anomalous"]) == int(row["anomalous"])
            assert "heatmap" not in body
        path = Path(rows[0]["path"])
        r = client.post("/predict?heatmap=1",
                        files={"file": (path.name, _png(path), "image/png")})
    assert r.status_code == 200
    pic = np.asarray(Image.open(io.BytesIO(base64.b64decode(r.json()["heatmap"]))))
    assert pic.shape == (32, 32, 3) and pic.dtype == np.uint8


@pytest.mark.parametrize("flags", [[], ["--threshold-rule", "f1"], ["--threshold", "0.125"]])
def test_mmae_serve_uses_the_threshold_of_mmae_predict(image_run, tmp_path, monkeypatch, flags):
    import uvicorn

    run = tmp_path / "run"
    shutil.copytree(image_run[0], run)
    assert main(["test", "--run", str(run), "--quiet"]) == 0  # stores the f1 threshold
    spot = image_run[1] / "test" / "spot"
    assert main(["predict", "--run", str(run), str(spot), "--out", str(tmp_path / "p"),
                 "--quiet", *flags]) == 0
    row = next(csv.DictReader(open(tmp_path / "p" / "scores.csv", newline="")))
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    assert main(["serve", "--run", str(run), "--port", "0", "--quiet", *flags]) == 0
    assert served["host"] == "127.0.0.1" and served["port"] == 0
    with TestClient(served["app"]) as client:
        health = client.get("/health").json()
        path = Path(row["path"])
        body = client.post("/predict", files={"file": (path.name, _png(path), "image/png")}).json()
    assert health["threshold"] == body["threshold"] == float(row["threshold"])
    assert health["threshold_source"] == row["threshold_source"]
    assert body["score"] == pytest.approx(float(row["score"]), rel=1e-6)
    assert int(body["anomalous"]) == int(row["anomalous"])


def test_bad_uploads_get_4xx_json_and_service_stays_up(image_run, inferencer):
    good = next((image_run[1] / "test" / "good").iterdir())
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(big, "PNG")
    bad = [
        ({"files": {"file": ("a.png", b"this is text, not a picture", "image/png")}}, 400,
         "not an image"),
        ({"files": {"file": ("a.png", b"", "image/png")}}, 400, "empty"),
        ({"files": {"file": ("a.png", big.getvalue(), "image/png")}}, 413, "too large"),
        ({"files": {"file": ("a.txt", _png(good), "text/plain")}}, 415, "content type"),
        ({"files": {"other": ("a.png", _png(good), "image/png")}}, 422, "'file'"),
        ({"content": _png(good), "headers": {"content-type": "image/png"}}, 415, "multipart"),
    ]
    with TestClient(create_app(inferencer, max_bytes=3000)) as client:
        assert len(big.getvalue()) > 3000 > len(_png(good))
        for kwargs, status, needle in bad:
            r = client.post("/predict", **kwargs)
            assert r.status_code == status, (needle, r.text)
            assert needle in r.json()["error"], r.json()
        r = client.post("/predict", files={"file": (good.name, _png(good), "image/png")})
        assert r.status_code == 200 and math.isfinite(r.json()["score"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_load_on_loopback_every_request_answered_and_batched(image_run, inferencer):
    import uvicorn

    files = sorted((image_run[1] / "test").rglob("*.png"))
    app = create_app(inferencer, max_batch=8, max_wait_ms=20)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)

        async def client(k: int) -> list[int]:
            codes = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                         timeout=60) as c:
                for i in range(10):
                    f = files[(k * 10 + i) % len(files)]
                    r = await c.post("/predict", files={"file": (f.name, _png(f), "image/png")})
                    codes.append(r.status_code)
            return codes

        async def load() -> list[list[int]]:
            return await asyncio.wait_for(asyncio.gather(*(client(k) for k in range(8))), 120)

        codes = asyncio.run(load())
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert [c for cs in codes for c in cs] == [200] * 80
    assert app.state.batcher.largest_batch > 1


@pytest.mark.slow
def test_video_run_returns_per_frame_scores_of_mmae_predict(tmp_path):
    from mmae.data.synth.video import generate_synthetic_video

    data = generate_synthetic_video(tmp_path / "data", seed=0, num_train=1, num_test=1,
                                    train_frames=30, test_frames=30)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", "ae3d", "--out", str(run),
                 "--set", "epochs=1", "--quiet"]) == 0
    video = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (48, 40))
    for f in sorted((data / "Test" / "Test001").iterdir())[:24]:
        w.write(cv2.resize(cv2.imread(str(f)), (48, 40)))
    w.release()
    assert main(["predict", "--run", str(run), str(video), "--out", str(tmp_path / "p"),
                 "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "p" / "frames.csv", newline="")))
    inferencer = Inferencer.load(run)
    with TestClient(create_app(inferencer)) as client:
        assert client.get("/health").json()["kind"] == "video"
        r = client.post("/predict", files={"file": ("clip.mp4", video.read_bytes(),
                                                    "video/mp4")})
        assert r.status_code == 200, r.text
        body = r.json()
        r2 = client.post("/predict", files={"file": ("x.mp4", b"not a video", "video/mp4")})
        assert r2.status_code == 400 and "error" in r2.json()
    assert len(body["scores"]) == len(rows) == 24
    assert body["threshold"] == inferencer.threshold
    for s, a, row in zip(body["scores"], body["anomalous"], rows):
        assert s == pytest.approx(float(row["score"]), rel=1e-6)
        assert int(a) == int(row["anomalous"])


@pytest.mark.slow
def test_video_run_serve_honours_threshold_rule_f1(tmp_path, monkeypatch):
    import uvicorn

    from mmae.data.synth.video import generate_synthetic_video

    data = generate_synthetic_video(tmp_path / "data", seed=0, num_train=1, num_test=2,
                                    train_frames=30, test_frames=40)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", "ae3d", "--out", str(run),
                 "--set", "epochs=1", "--quiet"]) == 0
    assert main(["test", "--run", str(run), "--quiet"]) == 0  # stores the frame-level f1
    f1 = Inferencer.load(run, threshold_rule="f1").threshold
    assert f1 is not None and f1 != Inferencer.load(run).threshold
    video = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (32, 32))
    for f in sorted((data / "Test" / "Test001").iterdir()):
        w.write(cv2.resize(cv2.imread(str(f)), (32, 32)))
    w.release()
    assert main(["predict", "--run", str(run), str(video), "--out", str(tmp_path / "p"),
                 "--quiet", "--threshold-rule", "f1"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "p" / "frames.csv", newline="")))
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    assert main(["serve", "--run", str(run), "--host", "0.0.0.0", "--port", "8123", "--quiet",
                 "--threshold-rule", "f1"]) == 0
    assert served["host"] == "0.0.0.0" and served["port"] == 8123
    with TestClient(served["app"]) as client:
        health = client.get("/health").json()
        body = client.post("/predict", files={"file": ("clip.mp4", video.read_bytes(),
                                                        "video/mp4")}).json()
    assert health["threshold"] == body["threshold"] == f1
    assert health["threshold_source"] == "f1"
    assert len(body["scores"]) == len(rows) == 40
    for s, a, row in zip(body["scores"], body["anomalous"], rows):
        assert s == pytest.approx(float(row["score"]), rel=1e-6)
        assert int(a) == int(row["anomalous"]) == int(s >= f1)
