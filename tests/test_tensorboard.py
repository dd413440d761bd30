"""``logger=tensorboard``: epoch scalars while training, test metrics and heatmaps, read back."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from mmae.errors import ConfigError
from mmae.runs import tensorboard as tbmod
from mmae.runs.tensorboard import RunLogger, epoch_scalars, metric_scalars

SMALL = ["--set", "epochs=3", "--set", "image_size=32", "--set", "batch_size=4",
         "--set", "num_scales=2", "--set", "latent_dim=8", "--set", "widths=[8,8,8]"]
HAS_TB = importlib.util.find_spec("tensorboard") is not None


class FakeWriter:
    """Records what a SummaryWriter would write."""

    def __init__(self) -> None:
        self.scalars: dict[str, dict[int, float]] = {}
        self.images: dict[str, tuple[int, ...]] = {}
        self.closed = False

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.setdefault(tag, {})[step] = value

    def add_image(self, tag: str, img: np.ndarray, step: int, dataformats: str) -> None:
        assert dataformats == "HWC"
        self.images[tag] = img.shape

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_epoch_record_becomes_tagged_scalars():
    record = {"epoch": 2, "loss": 0.5, "mse": 0.25, "entropy": 1.5,
              "zero_row_fraction": [0.1, 0.2], "fuser_weight": [0.7, 0.3],
              "grad_norm": {"encoders": 2.0, "memories": 0.5}, "samples_per_s": 100.0}
    assert epoch_scalars(record) == {
        "loss/loss": 0.5, "loss/mse": 0.25, "loss/entropy": 1.5,
        "memory/zero_row_fraction/scale0": 0.1, "memory/zero_row_fraction/scale1": 0.2,
        "fuser/weight/scale0": 0.7, "fuser/weight/scale1": 0.3,
        "grad_norm/encoders": 2.0, "grad_norm/memories": 0.5, "speed/samples_per_s": 100.0}
    w = FakeWriter()
    RunLogger(None, writer=w).log_epoch(record)
    assert w.scalars["loss/mse"] == {2: 0.25}


def test_test_metrics_skip_none_and_text():
    metrics = {"model": "mmae", "num_images": 12, "au_pro": 0.8, "pixel_auroc": None,
               "notes": ["x"], "definitions": {"a": 1},
               "per_defect": {"spot": {"num_images": 6, "image_auroc": 0.9}}}
    assert metric_scalars(metrics) == {"test/num_images": 12.0, "test/au_pro": 0.8,
                                     "test/per_defect/spot/num_images": 6.0,
                                     "test/per_defect/spot/image_auroc": 0.9}
    w = FakeWriter()
    RunLogger(None, writer=w).log_test(metrics, {"grid": np.zeros((4, 6, 3), np.uint8)}, 3)
    assert w.scalars["test/au_pro"] == {3: 0.8} and w.images == {"test/grid": (4, 6, 3)}


def test_missing_tensorboard_is_one_clear_error(tmp_path, tiny_mvtec, cli, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(tbmod.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match=r"mmae\[tensorboard\]"):
        RunLogger.open("tensorboard", tmp_path)
    assert RunLogger.open("jsonl", tmp_path) is None
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", tmp_path / "run", "--quiet",
                       *SMALL, "--set", "logger=tensorboard")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'mmae[tensorboard]'" in lines[0], err


def test_unknown_logger_is_refused(tmp_path, tiny_mvtec, cli):
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", tmp_path / "run", "--quiet",
                       *SMALL, "--set", "logger=wandb")
    assert code == 2 and "logger" in err and "tensorboard" in err


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TB, reason="the tensorboard extra is not installed")
def test_event_files_hold_the_training_log_and_test_metrics(tmp_path, tiny_mvtec, cli):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", run, "--quiet", *SMALL,
                       "--set", "logger=tensorboard")
    assert code == 0, err
    code, _, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    tags = acc.Tags()
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 3
    for key in ("loss", "mse", "entropy"):
        events = acc.Scalars(f"loss/{key}")
        assert [e.step for e in events] == [1, 2, 3]
        assert [e.value for e in events] == pytest.approx([r[key] for r in log], rel=1e-6)
    zr = acc.Scalars("memory/zero_row_fraction/scale1")
    assert [e.value for e in zr] == pytest.approx([r["zero_row_fraction"][1] for r in log])
    assert any(t.startswith("grad_norm/") for t in tags["scalars"])
    metrics = json.loads((run / "test" / "metrics.json").read_text())
    for key in ("image_auroc", "au_pro", "pixel_auroc"):
        (event,) = acc.Scalars(f"test/{key}")
        assert event.step == 3 and event.value == pytest.approx(metrics[key], rel=1e-6)
    assert "test/per_defect/spot/image_auroc" in tags["scalars"]
    (img,) = acc.Images("test/grid")
    assert img.step == 3 and img.width > 0 and img.height > 0
