"""GPU checks (``make test-gpu``): every model trains on CUDA under bf16 autocast and scores
finite; a training epoch never waits for the GPU; CUDA scores equal the CPU's and ONNX's; the run
lock answers first on ``--resume``; SIGTERM stops a CUDA training cleanly; torchrun with more
processes per node than GPUs is one error line. Skipped (with the reason) without CUDA."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CUDA_TESTS_ON_CPU, write_tiny_mvtec

from mmae._version import __version__
from mmae.config import accepts_setting, resolve_config
from mmae.data.image_io import read_image
from mmae.data.video import open_video_dataset
from mmae.device import evaluation_precision, setup_runtime
from mmae.inference.inferencer import Inferencer
from mmae.models.registry import create_model, get_spec, list_models
from mmae.runs.checkpoint import load_checkpoint
from mmae.runs.lock import is_locked
from mmae.runs.run import Run
from mmae.tasks import get_task
from mmae.training.resident import ResidentData
from mmae.training.step import TrainStep, make_optimizer
from mmae.training.train import _batches, build_model, train

pytestmark = pytest.mark.cuda

DEVICE = "cpu" if CUDA_TESTS_ON_CPU else "cuda"
RTOL = 1e-5  # the contract's tolerance (tests/test_contract.py)
TINY = {"epochs": 1, "batch_size": 4, "image_size": 32, "widths": [4, 8, 8, 8],
        "latent_dim": 16, "memory_size": 10, "clip_length": 8}
MODELS = list_models()
TRAINABLE = [m for m in MODELS if m != "patch_pca"]
ROOT = Path(__file__).resolve().parents[1]


def _kind(model: str) -> str:
    return get_spec(model).kind


def _sets(model: str, **extra: object) -> dict[str, object]:
    return {**{k: v for k, v in TINY.items() if accepts_setting(model, k)}, "device": DEVICE,
            **extra}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from mmae.data.synth.video import generate_synthetic_video

    root = tmp_path_factory.mktemp("gpu")
    return {"image": write_tiny_mvtec(root / "images", n_train=8, n_test=2),
            "video": generate_synthetic_video(root / "video", seed=0, frame_size=(48, 64),
                                              num_train=2, num_test=1, train_frames=24,
                                              test_frames=30)}


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _cli_sets(model: str, **extra: object) -> list[str]:
    out = []
    for k, v in _sets(model, **extra).items():
        out += ["--set", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    return out


@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_under_bf16_and_scores_finite(tmp_path, data, model) -> None:
    if DEVICE == "cuda":
        assert setup_runtime(DEVICE, "auto").amp_dtype == torch.bfloat16  # amp: auto on CUDA
    cfg = resolve_config(model, "cpu", _sets(model), data=str(data[_kind(model)]))
    run = tmp_path / "run"
    run.mkdir()
    train(cfg, run, progress=False)
    value, _ = Run(run).threshold()
    assert value is not None and math.isfinite(value)
    inf = Inferencer.load(run, device=DEVICE)
    if _kind(model) == "image":
        paths = sorted((data["image"] / "test").rglob("*.png"))
        scores = inf.predict_images([read_image(p, inf.config.channels) for p in paths]).scores
    else:
        frames = open_video_dataset(data["video"], "test", frame_size=(32, 32)).frames(0)
        scores = np.array([s for _, s in inf.predict_frames(frames)])
    assert len(scores) > 0 and np.isfinite(scores).all()


@pytest.mark.parametrize("model", TRAINABLE)
def test_a_training_epoch_never_waits_for_the_gpu(data, model) -> None:
    cfg = resolve_config(model, "cpu", _sets(model, batch_size=2, grad_clip=1.0),
                         data=str(data[_kind(model)]))
    rt = setup_runtime(cfg.device, cfg.amp)
    task = get_task(cfg)
    ds = task.open("train", progress=False)
    cfg = dataclasses.replace(cfg, channels=task.channels(ds))
    train_set = get_task(cfg).training_set(ds)
    net = build_model(cfg).to(rt.device)
    step = TrainStep(net, net, make_optimizer(net, cfg.lr, cfg.weight_decay, rt.device), rt,
                     cfg.grad_clip)
    resident = ResidentData.from_dataset(train_set, rt.device)
    assert resident is not None and resident.device.type == rt.device.type
    net.train()
    for x in _batches(train_set, resident, cfg, 0, rt, step):  # first-step set-up
        step(x)
        step.stats.peek()
        break
    if DEVICE == "cuda":
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any host wait raises
    steps = 0
    try:
        for x in _batches(train_set, resident, cfg, 1, rt, step):
            step(x)
            step.stats.peek()  # the progress bar's read
            steps += 1
    finally:
        if DEVICE == "cuda":
            torch.cuda.set_sync_debug_mode(0)
    assert steps >= 3
    assert math.isfinite(step.stats.summary()["loss"])


def _untrained_run(tmp_path: Path, model: str, data: Path) -> Run:
    # the model's own map: an untrained run has no fitted post-processing statistics (the
    # fitted terms are scored on CUDA by the training tests above)
    cfg = resolve_config(model, "cpu", _sets(model, map_terms="model"), data=str(data))
    cfg.channels = 3 if _kind(model) == "image" else 1
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.save_config(cfg)
    torch.manual_seed(0)
    net = create_model(cfg.model, **cfg.model_kwargs())
    run.save_checkpoint({"model": net.state_dict(), "epoch": 1, "mmae_version": __version__})
    return run


@pytest.mark.parametrize("model", [m for m in MODELS if m != "patch_pca"])
def test_cuda_scores_equal_cpu_and_onnx(tmp_path, data, model) -> None:
    run = _untrained_run(tmp_path, model, data[_kind(model)])
    gpu, cpu = Inferencer.load(run, device=DEVICE), Inferencer.load(run, device="cpu")
    if _kind(model) == "video":
        frames = open_video_dataset(data["video"], "test", frame_size=(32, 32)).frames(0)
        a = np.array([s for _, s in gpu.predict_frames(frames)])
        b = np.array([s for _, s in cpu.predict_frames(frames)])
        np.testing.assert_allclose(a, b, rtol=RTOL)
        return
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    a, b = gpu.predict_images(images), cpu.predict_images(images)
    np.testing.assert_allclose(a.scores, b.scores, rtol=RTOL)
    np.testing.assert_allclose(a.maps, b.maps, rtol=RTOL, atol=RTOL * float(b.maps.max()))
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed here")
    pytest.importorskip("onnxscript", reason="onnxscript is not installed here")
    import onnxruntime as ort

    from mmae.inference.export import export_onnx

    export_onnx(run.path, tmp_path / "m.onnx", check=False)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (onnx_scores,) = sess.run(["pred_score"], {"image": gpu.image_batch(images).numpy()})
    np.testing.assert_allclose(a.scores, onnx_scores, rtol=RTOL)


def test_speed_settings_train_to_the_same_losses_on_cuda(data) -> None:
    """compile and channels_last against the plain step: amp off and IEEE float32, so only the
    kernels' order of additions differs (relative 1e-3 over three steps)."""
    losses = {}
    for name, settings in {"plain": {}, "channels_last": {"channels_last": "on"},
                           "compile": {"compile": "on"}}.items():
        torch.manual_seed(0)
        rt = setup_runtime(DEVICE, "off")
        net = create_model("mmae", image_size=32, in_channels=3, num_scales=2, latent_dim=16,
                           memory_size=8, widths=[8, 8, 8]).to(rt.device)
        step = TrainStep(net, net, make_optimizer(net, 1e-3, 1e-5, rt.device), rt, 1.0,
                         **settings)
        net.train()
        g = torch.Generator().manual_seed(1)
        with evaluation_precision():
            losses[name] = [float(step(step.prepare(torch.rand(4, 3, 32, 32, generator=g)))
                                  ["loss"].detach()) for _ in range(3)]
    assert losses["channels_last"] == pytest.approx(losses["plain"], rel=1e-3)
    assert losses["compile"] == pytest.approx(losses["plain"], rel=1e-3)


def test_resume_of_a_cuda_training_says_being_written_and_sigterm_stops_it(tmp_path,
                                                                           data) -> None:
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "mmae", "train", "--data", str(data["image"]), "--out", str(run),
         "--model", "ae", "--quiet", *_cli_sets("ae", epochs=100000)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        t0 = time.monotonic()
        while not (run / "train_log.jsonl").is_file():  # in the loop: its handlers are set
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() - t0 < 300
            time.sleep(0.1)
        assert is_locked(run)
        resumed = subprocess.run([sys.executable, "-m", "mmae", "train", "--resume", str(run),
                                  "--quiet"], capture_output=True, text=True, env=_env())
        lines = resumed.stderr.strip().splitlines()
        assert resumed.returncode == 2 and len(lines) == 1, resumed.stderr
        assert "being written" in lines[0]
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].endswith(f"resume with: mmae train --resume {run}")
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] >= 1


@pytest.mark.skipif(CUDA_TESTS_ON_CPU, reason="needs CUDA devices to count")
def test_torchrun_with_more_processes_than_gpus_is_one_error_line(tmp_path, data) -> None:
    n = torch.cuda.device_count() + 1
    run = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}",
         "--master_port=29533", "-m", "mmae", "train", "--data", str(data["image"]), "--out",
         str(run), "--model", "ae", "--quiet", *_cli_sets("ae")],
        capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "mmae: error:" in line]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert (f"torchrun started {n} processes per node but this machine has {n - 1} CUDA "
            f"device") in errors[0]
    assert "invalid device ordinal" not in proc.stderr
    assert not run.exists()  # refused before the run folder was made
