"""The training loop: the loss goes down, a non-finite loss stops cleanly, run files are written."""

from __future__ import annotations

import json

import pytest
import torch

from mmae.engine.checkpoint import load_checkpoint
from mmae.engine.config import parse_set, resolve_config
from mmae.engine.train import TrainingError, train
from mmae.models.mmae import MMAE

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
        train(_cfg(tiny_mvtec, "epochs=5"), run, progress=False)
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
