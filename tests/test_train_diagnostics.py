"""Per-epoch diagnostics (gradient norms per module group, fuser weights), the in-memory batch
path of the training loop and the background checkpoint writer."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils.data import Dataset, default_collate

from mmae.config import parse_set, resolve_config
from mmae.data.image import open_image_dataset
from mmae.models.mmae import MMAE
from mmae.models.output import ModelOutput
from mmae.models.vae import VAE
from mmae.runs.checkpoint import load_checkpoint
from mmae.training.checkpoint_writer import CheckpointWriter, model_state
from mmae.training.diagnostics import group_grad_norms, module_group, parameter_groups
from mmae.training.epoch_stats import EpochStats
from mmae.training.train import train

SMALL = ["epochs=3", "image_size=32", "batch_size=5", "num_scales=2", "latent_dim=32",
         "widths=[8,16,16]"]


def _mmae() -> MMAE:
    torch.manual_seed(0)
    return MMAE(in_channels=3, image_size=32, num_scales=3, latent_dim=32, widths=(8, 16, 16),
                memory_size=10)


def _backward(model: torch.nn.Module) -> None:
    model.train()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model.zero_grad(set_to_none=True)
    model.loss(x, model(x))["loss"].backward()


def test_groups_partition_the_parameters_of_a_real_mmae():
    model = _mmae()
    groups = parameter_groups(model)
    assert list(groups) == ["encoders", "memories", "fuser", "decoder"]
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids))  # disjoint
    assert set(ids) == {id(p) for p in model.parameters()}  # complete
    assert {id(p) for p in groups["memories"]} == {id(p) for p in model.memories.parameters()}
    assert {id(p) for p in groups["fuser"]} == {id(p) for p in model.fuser.parameters()}
    assert module_group("module.decoder.blocks.0.weight") == "decoder"
    assert module_group("scale_logit") == "other"


def test_group_norm_equals_a_hand_computation_from_the_grads():
    model = _mmae()
    _backward(model)
    groups = parameter_groups(model)
    norms = group_grad_norms(groups)
    for (name, params), got in zip(groups.items(), norms.tolist(), strict=True):
        want = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params))
        assert want > 0, name
        assert got == pytest.approx(want, rel=1e-5), name


def test_non_mmae_model_gets_encoder_and_decoder_groups():
    torch.manual_seed(0)
    model = VAE(in_channels=3, image_size=32, latent_dim=8, widths=(8, 16))
    _backward(model)
    stats = EpochStats(model)
    stats.grad_norms.update()
    assert list(stats.grad_norms.groups) == ["encoders", "decoder"]
    assert set(stats.grad_norms.mean()) == {"encoders", "decoder"}


def test_epoch_stats_weight_batches_by_their_size():
    stats = EpochStats(torch.nn.Linear(2, 2))
    for n, loss, zero, w in [(4, 1.0, [0.5, 0.0], [[0.2, 0.8]] * 4), (2, 4.0, [0.2, 0.4],
                                                                       [[0.6, 0.4]] * 2)]:
        out = ModelOutput(torch.zeros(1), extras={"zero_row_fraction": torch.tensor(zero),
                                                  "scale_weights": torch.tensor(w)})
        stats.add({"loss": torch.tensor(loss), "mse": torch.tensor(loss / 2)}, out, n)
    rec = stats.summary()
    assert rec["loss"] == pytest.approx((4 * 1.0 + 2 * 4.0) / 6)
    assert rec["mse"] == pytest.approx((4 * 0.5 + 2 * 2.0) / 6)
    assert rec["zero_row_fraction"] == pytest.approx([(2.0 + 0.4) / 6, 0.8 / 6], abs=1e-4)
    assert rec["fuser_weight"] == pytest.approx([(0.8 + 1.2) / 6, (3.2 + 0.8) / 6], abs=1e-4)
    assert stats.finite()
    stats.add({"loss": torch.tensor(float("nan"))}, ModelOutput(torch.zeros(1)), 1)
    assert not stats.finite()


def _log(run):
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_train_log_has_grad_norms_fuser_weights_and_zero_rows(tmp_path, tiny_mvtec):
    run = tmp_path / "run"
    run.mkdir()
    cfg = resolve_config("mmae", "cpu", parse_set(SMALL), data=str(tiny_mvtec))
    assert cfg.model_args["latent"] == "hybrid"  # a spatial and a global memory per scale
    train(cfg, run, progress=False)
    log = _log(run)
    assert len(log) == 3
    for rec in log:
        assert set(rec["grad_norm"]) == {"encoders", "memories", "fuser", "decoder"}
        assert all(v > 0 and math.isfinite(v) for v in rec["grad_norm"].values())
        assert len(rec["fuser_weight"]) == 2
        assert sum(rec["fuser_weight"]) == pytest.approx(1.0, abs=1e-3)  # softmax over scales
        assert len(rec["zero_row_fraction"]) == 2 * 2  # per scale: spatial, global


def test_train_log_of_a_plain_autoencoder(tmp_path, tiny_mvtec):
    run = tmp_path / "run"
    run.mkdir()
    cfg = resolve_config("ae", "cpu", parse_set([*SMALL[:-3], "latent_dim=32",
                                                 "widths=[8,16,16]"]), data=str(tiny_mvtec))
    train(cfg, run, progress=False)
    rec = _log(run)[-1]
    assert set(rec["grad_norm"]) == {"encoders", "decoder"}
    assert "fuser_weight" not in rec and "zero_row_fraction" not in rec


class _NoBatches(Dataset):
    """The same items without ``get_batch``: the loop falls back to a DataLoader."""

    def __init__(self, ds) -> None:
        self.ds, self.channels = ds, ds.channels

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        return self.ds[i]


def test_get_batch_equals_the_collated_items(tiny_mvtec):
    ds = open_image_dataset(tiny_mvtec, "train", image_size=32, progress=False)
    idx = [7, 2, 11, 0]
    got, want = ds.get_batch(idx), default_collate([ds[i] for i in idx])
    assert got.keys() == want.keys()
    for k in got:
        assert torch.equal(got[k], want[k]), k


def test_batched_and_dataloader_paths_train_identical_weights(tmp_path, tiny_mvtec):
    ds = open_image_dataset(tiny_mvtec, "train", image_size=32, progress=False)
    states = []
    for name, data in [("fast", ds), ("loader", _NoBatches(ds))]:
        run = tmp_path / name
        run.mkdir()
        train(resolve_config("mmae", "cpu", parse_set(SMALL), data=str(tiny_mvtec)), run,
              progress=False, dataset=data)
        states.append(load_checkpoint(run / "checkpoint.pt")["model"])
    assert states[0].keys() == states[1].keys()
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_checkpoint_writer_writes_in_background_and_reports_errors(tmp_path):
    bn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    state = model_state(bn)
    assert state["1.running_mean"].data_ptr() != bn[1].running_mean.data_ptr()  # copied
    assert state["0.weight"].data_ptr() == bn[0].weight.data_ptr()  # shared
    writer = CheckpointWriter()
    writer.submit(tmp_path / "c.pt", {"model": state, "epoch": 1})
    bn.train()(torch.rand(2, 1, 4, 4))  # forward changes the running statistics
    writer.wait()
    back = load_checkpoint(tmp_path / "c.pt")
    assert back["epoch"] == 1 and torch.equal(back["model"]["1.running_mean"], torch.zeros(2))
    writer.submit(tmp_path / "missing" / "c.pt", {"model": {}})
    with pytest.raises(FileNotFoundError):
        writer.wait()
    writer.wait()  # the error is reported once
