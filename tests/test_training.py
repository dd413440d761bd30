"""The training loop: the loss goes down, a non-finite loss stops cleanly, run files are written."""

from __future__ import annotations

import json

import pytest
import torch

from mmae.config import parse_set, resolve_config
from mmae.models.mmae import MMAE
from mmae.runs.checkpoint import load_checkpoint
from mmae.training.train import TrainingError, train

SMALL = ["epochs=6", "image_size=32", "batch_size=4", "num_scales=2", "latent_dim=32",
         "widths=[8,16,16]"]


def _cfg(data, *extra):
    return resolve_config("mmae", "cpu", parse_set([*SMALL, *extra]), data=str(data))


@pytest.mark.parametrize("latent", ["vector", "spatial"])
def test_training_lowers_the_loss(tmp_path, tiny_mvtec, latent):
    run = tmp_path / "run"
    run.mkdir()
    train(_cfg(tiny_mvtec, f"latent={latent}", "epochs=12"), run, progress=False)
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 12
    assert log[-1]["mse"] < 0.5 * log[0]["mse"], [r["mse"] for r in log]
    assert all(len(r["zero_row_fraction"]) == 2 for r in log)
    th = json.loads((run / "thresholds.json").read_text())
    assert th["default"] == "normal"
    assert th["normal"]["percentile"] == 99.0 and th["normal"]["false_positive_rate"] == 0.01
    assert th["normal"]["split"] == "validation" and th["normal"]["num_scores"] == 2  # 10% of 12
    assert th["normal"]["value"] > 0


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, tiny_mvtec, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    calls = {"n": 0}
    orig = MMAE.loss

    def loss(self, x, out):
        calls["n"] += 1
        parts = orig(self, x, out)
        if calls["n"] == 8:  # 3 steps per epoch: the middle of epoch 3
            parts["loss"] = parts["loss"] * float("nan")
        return parts

    monkeypatch.setattr(MMAE, "loss", loss)
    with pytest.raises(TrainingError, match="non-finite.*epoch 3.*last good checkpoint"):
        train(_cfg(tiny_mvtec, "epochs=5", "save_every=1"), run, progress=False)
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_a_model_without_optimiser_is_fitted_once(tmp_path, tiny_mvtec):
    """``trainable = False``: the loop calls ``fit_data`` on the training inputs instead."""
    from torch import nn

    from mmae.models import registry
    from mmae.models.output import ModelOutput

    class MeanImage(nn.Module):
        trainable = False
        kind = "image"

        def __init__(self, in_channels: int = 3, image_size: int = 32) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(1, in_channels, image_size, image_size))

        def fit_data(self, batches) -> None:
            xs = torch.cat(list(batches))
            self.mean.copy_(xs.mean(0, keepdim=True))
            self.seen = len(xs)

        def forward(self, x):
            recon = self.mean.expand_as(x)
            amap = ((x - recon) ** 2).sum(1, keepdim=True)
            return ModelOutput(recon, amap, amap.flatten(1).amax(1))

    registry.register_model("_mean_image")(lambda: registry.ModelSpec(MeanImage, {}, "image"))
    try:
        run = tmp_path / "run"
        run.mkdir()
        cfg = resolve_config("_mean_image", "cpu", {"image_size": 32, "epochs": 3},
                             data=str(tiny_mvtec))
        train(cfg, run, progress=False)
        state = load_checkpoint(run / "checkpoint.pt")
        assert state["epoch"] == 3 and state["model"]["mean"].abs().sum() > 0
        log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
        assert len(log) == 1 and log[0]["epoch"] == 3  # one record, no optimiser epochs
        assert set(log[0]) == {"epoch", "fit_seconds", "samples_per_s"}
        th = json.loads((run / "thresholds.json").read_text())
        assert th["normal"]["value"] > 0 and th["normal"]["split"] == "validation"
    finally:
        registry._REGISTRY.pop("_mean_image")
