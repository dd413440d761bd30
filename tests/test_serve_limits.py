"""Bounded uploads: 413 over --max-pixels / --max-frames (from the header), 503 with Retry-After
beyond the queue while /health answers, `mmae predict` error lines, and the memory benchmark."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
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
from conftest import header_only_png, write_tiny_mvtec  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from mmae.cli.main import main  # noqa: E402
from mmae.data.video.limits import limit_frames  # noqa: E402
from mmae.errors import LimitError  # noqa: E402
from mmae.inference.inferencer import Inferencer  # noqa: E402
from mmae.serve import app as app_module  # noqa: E402
from mmae.serve import create_app  # noqa: E402

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_serve_memory.py"


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("limits")
    data = write_tiny_mvtec(root / "data")
    run = root / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--model", "mmae", "--quiet",
                 "--set", "epochs=1", "--set", "image_size=32", "--set", "num_scales=2",
                 "--set", "latent_dim=32"]) == 0
    return run, data


@pytest.fixture(scope="module")
def inferencer(image_run) -> Inferencer:
    return Inferencer.load(image_run[0])


def _png(shape: tuple[int, ...], seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, shape, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _post(client, name: str, data: bytes, kind: str = "image/png"):
    return client.post("/predict", files={"file": (name, data, kind)})


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_over_max_pixels_is_413_json_from_the_header(inferencer, tmp_path):
    huge = header_only_png(tmp_path / "huge.png", 12_000, 11_000).read_bytes()
    with TestClient(create_app(inferencer, max_pixels=1_000)) as client:
        r = _post(client, "part.png", _png((40, 30)))
        assert r.status_code == 413
        assert r.json() == {"error": "part.png: 30 x 40 = 1,200 pixels is more than the limit of "
                                     "1,000 (--max-pixels)"}
        assert _post(client, "ok.png", _png((25, 40))).status_code == 200  # 1,000: at the cap
    with TestClient(create_app(inferencer)) as client:  # the default cap, 64 MP
        r = _post(client, "huge.png", huge)  # 132 MP announced, no pixel data: never decoded
        assert r.status_code == 413 and "132,000,000 pixels" in r.json()["error"]
        bomb = header_only_png(tmp_path / "bomb.png", 20_000, 20_000).read_bytes()
        r = _post(client, "bomb.png", bomb)  # over Pillow's own limit: also a size refusal
        assert r.status_code == 413 and "bomb.png" in r.json()["error"]
        r = _post(client, "broken.png", huge[:30])
        assert r.status_code == 400
        assert client.get("/health").json()["status"] == "ok"
        r = _post(client, "fine.png", _png((64, 48)))
        assert r.status_code == 200 and np.isfinite(r.json()["score"])


def test_heatmap_is_drawn_on_a_bounded_view(inferencer, monkeypatch):
    monkeypatch.setattr(app_module, "HEATMAP_MAX_SIDE", 50)
    with TestClient(create_app(inferencer)) as client:
        r = client.post("/predict?heatmap=1", files={"file": ("a.png", _png((80, 120, 3)),
                                                             "image/png")})
    assert r.status_code == 200
    import base64

    pic = np.asarray(Image.open(io.BytesIO(base64.b64decode(r.json()["heatmap"]))))
    assert pic.shape == (33, 50, 3)  # 120 -> 50 on the long side, aspect kept


class _Server:
    """uvicorn on 127.0.0.1 in a thread, for as long as the ``with`` block runs."""

    def __init__(self, app) -> None:
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "no server"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def test_beyond_the_queue_503_with_retry_after_and_health_answers(inferencer, monkeypatch):
    release = threading.Event()
    decode = app_module.decode_upload_for

    def slow_decode(*args, **kwargs):
        assert release.wait(30), "the test never released the decoder"
        return decode(*args, **kwargs)

    monkeypatch.setattr(app_module, "decode_upload_for", slow_decode)
    app = create_app(inferencer, decode_workers=1, max_queue=1)
    image = _png((32, 32))

    async def scenario(base: str) -> tuple[list[int], object, dict, dict]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            held = [asyncio.create_task(c.post("/predict", files={"file": (f"{i}.png", image,
                                                                           "image/png")}))
                    for i in range(2)]  # one decoding (held), one waiting
            deadline = time.monotonic() + 20
            while (await c.get("/health")).json()["load"]["in_flight"] < 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            busy = await c.post("/predict", files={"file": ("2.png", image, "image/png")})
            during = (await c.get("/health")).json()
            release.set()
            codes = [(await t).status_code for t in held]
            after = (await c.get("/health")).json()
        return codes, busy, during, after

    with _Server(app) as base:
        codes, busy, during, after = asyncio.run(asyncio.wait_for(scenario(base), 60))
    assert busy.status_code == 503 and "busy" in busy.json()["error"]
    assert int(busy.headers["Retry-After"]) >= 1
    assert during["status"] == "ok" and during["load"]["in_flight"] == 2
    assert during["load"]["limit"] == 2 and during["load"]["decode_workers"] == 1
    assert codes == [200, 200]
    assert after["load"]["in_flight"] == 0 and after["load"]["refused"] == 1


def test_predict_reports_each_file_over_max_pixels_and_scores_the_rest(image_run, tmp_path, cli):
    run, data = image_run
    folder = tmp_path / "in"
    folder.mkdir()
    for f in sorted((data / "test" / "good").iterdir())[:3]:  # 32 x 32
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "wide.png").write_bytes(_png((32, 64)))
    header_only_png(folder / "huge.png", 12_000, 11_000)
    code, out, err = cli("predict", "--run", run, folder, "--out", tmp_path / "p", "--quiet",
                         "--max-pixels", "1500")
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[0] == f"mmae: error: {folder / 'huge.png'}: 12000 x 11000 = 132,000,000 " \
                       "pixels is more than the limit of 1,500 (--max-pixels)"
    assert lines[1].startswith(f"mmae: error: {folder / 'wide.png'}: 64 x 32 = 2,048 pixels")
    assert "2 input(s) over --max-pixels 1500 not scored" in lines[2] and len(lines) == 3
    assert "scored 3 images" in out
    rows = list(csv.DictReader(open(tmp_path / "p" / "scores.csv", newline="")))
    assert sorted(Path(r["path"]).name for r in rows) == ["000.png", "001.png", "002.png"]
    assert len(list((tmp_path / "p" / "heatmaps").iterdir())) == 3
    code, out, err = cli("predict", "--run", run, folder / "wide.png", "--out", tmp_path / "q",
                         "--quiet", "--max-pixels", "1500")
    assert code == 2 and "no image was scored: 1 over the size limit" in err
    code, _, err = cli("predict", "--run", run, folder / "wide.png", "--out", tmp_path / "r",
                       "--quiet")  # the default cap: scored
    assert code == 0, err


def test_limit_frames_checks_every_decoded_frame():
    frames = [np.zeros((10, 10), np.uint8)] * 3 + [np.zeros((100, 100), np.uint8)]
    assert len(list(limit_frames(frames[:3], "v.avi", max_pixels=100, max_frames=3))) == 3
    with pytest.raises(LimitError, match=r"v\.avi: more than 2 frames"):
        list(limit_frames(frames, "v.avi", max_pixels=None, max_frames=2))
    with pytest.raises(LimitError, match=r"v\.avi: 100 x 100 = 10,000 pixels"):
        list(limit_frames(frames, "v.avi", max_pixels=100))  # a header that under-announced


def _video(path: Path, frames: int, size: tuple[int, int]) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (size[1], size[0], 3), np.uint8))
    w.release()
    return path


@pytest.mark.slow
def test_video_frame_size_and_count_are_bounded(tmp_path, cli):
    from mmae.data.synth.video import generate_synthetic_video

    data = generate_synthetic_video(tmp_path / "data", seed=0, num_train=1, num_test=1,
                                    train_frames=20, test_frames=20)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--model", "ae3d", "--out", str(run),
                 "--set", "epochs=1", "--quiet"]) == 0
    inf = Inferencer.load(run)
    clip = _video(tmp_path / "clip.mp4", 20, (48, 40)).read_bytes()
    with TestClient(create_app(inf, max_frames=10)) as client:
        r = _post(client, "clip.mp4", clip, "video/mp4")
        assert r.status_code == 413 and r.json()["error"] == \
            "clip.mp4: more than 10 frames (--max-frames)"
    with TestClient(create_app(inf, max_pixels=1_000)) as client:
        r = _post(client, "clip.mp4", clip, "video/mp4")
        assert r.status_code == 413 and "clip.mp4: 48 x 40 = 1,920 pixels" in r.json()["error"]
        assert client.get("/health").json()["status"] == "ok"
    with TestClient(create_app(inf)) as client:
        r = _post(client, "clip.mp4", clip, "video/mp4")
        assert r.status_code == 200 and len(r.json()["scores"]) == 20
    # mmae predict: a video file and a frame folder over the cap, a small video scored
    small = _video(tmp_path / "small.mp4", 20, (24, 20))
    code, out, err = cli("predict", "--run", run, tmp_path / "clip.mp4", small,
                         data / "Test" / "Test001", "--out", tmp_path / "p", "--quiet",
                         "--max-pixels", "1000")
    assert code == 2
    errors = [ln for ln in err.splitlines() if ln.startswith("mmae: error: ")]
    assert len(errors) == 3 and "clip.mp4: 48 x 40" in errors[0]
    assert "Test001" in errors[1] and "--max-pixels" in errors[1]
    rows = list(csv.DictReader(open(tmp_path / "p" / "frames.csv", newline="")))
    assert {r["video"] for r in rows} == {"small"} and len(rows) == 20


def test_memory_benchmark_quick_mode_bounded_peak_and_every_request_answered(image_run):
    spec = importlib.util.spec_from_file_location("bench_serve_memory", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    q = bench.QUICK
    r = bench.bench(image_run[0], timeout=120, **q)
    codes = r["codes_oversized"] + r["codes_big"]
    assert len(codes) == q["uploads"] + q["oversized"]
    assert set(codes) <= {200, 413, 503} and 200 in codes, r["codes"]
    assert set(r["codes_oversized"]) <= {413, 503}
    # at most decode_workers decodes at once, each within 10 bytes a pixel (Pillow's 4, the
    # uint8 array's 3, strips); all six at once took 406 MiB before decoding was bounded
    bound = q["decode_workers"] * 10 * q["side"] ** 2 / 2**20 + 32
    assert r["peak_above_start_mib"] < bound, r
    assert r["health_ok"] and r["health_polls"] >= 1 and r["healthy_after"]
