"""The training loop's parts: resident data, the epoch order, the checkpoint clock, stop signals."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Subset

from mmae.data.image import open_image_dataset
from mmae.data.video import ClipDataset, open_video_dataset
from mmae.training import stopping
from mmae.training.resident import ResidentData, epoch_order
from mmae.training.stopping import SaveClock, StopSignals, stopped_message

CPU = torch.device("cpu")


def test_epoch_order_is_the_seeded_permutation_split_by_rank() -> None:
    g = torch.Generator().manual_seed(3 * 1_000_003 + 5)  # seed 3, epoch 5
    perm = torch.randperm(11, generator=g)
    assert torch.equal(epoch_order(11, 3, 5), perm)
    parts = [epoch_order(11, 3, 5, rank=r, world_size=2) for r in range(2)]
    assert torch.equal(parts[0], perm[0::2]) and torch.equal(parts[1], perm[1::2])
    assert not torch.equal(epoch_order(11, 3, 6), perm)


def test_resident_images_equal_the_datasets_batches(tiny_mvtec) -> None:
    ds = open_image_dataset(tiny_mvtec, "train", image_size=32, progress=False)
    idx = [5, 0, 11, 3]
    res = ResidentData.from_dataset(ds, CPU)
    assert res is not None and len(res) == len(ds) and res.pixels.dtype == torch.uint8
    got = res.batch(torch.tensor(idx))
    assert got.dtype == torch.float32 and torch.equal(got, ds.get_batch(idx)["image"])
    keep = [1, 2, 4, 7, 9]  # the training part of a validation split
    sub = ResidentData.from_dataset(Subset(ds, keep), CPU)
    assert len(sub) == len(keep)
    assert torch.equal(sub.batch(torch.tensor([4, 0])), ds.get_batch([9, 1])["image"])


def _random_videos(root: Path, lengths: list[int]) -> Path:
    rng = np.random.default_rng(0)
    for k, n in enumerate(lengths, start=1):
        folder = root / "v" / "training" / "frames" / f"{k:02d}"
        folder.mkdir(parents=True)
        for t in range(n):
            frame = rng.integers(0, 256, (8, 12), dtype=np.uint8)
            Image.fromarray(frame).save(folder / f"{t:04d}.png")
    return root / "v"


def test_resident_clips_equal_the_clip_dataset(tmp_path) -> None:
    vds = open_video_dataset(_random_videos(tmp_path, [7, 3, 9]), "train")
    with pytest.warns(UserWarning, match="shorter than clip_length"):
        clips = ClipDataset(vds, clip_length=4, stride=2)  # video 2 gives no clip
    res = ResidentData.from_dataset(clips, CPU)
    assert res is not None and len(res) == len(clips)
    idx = list(range(len(clips)))[::-1]
    want = torch.stack([clips[i]["clip"] for i in idx])
    got = res.batch(torch.tensor(idx))
    assert got.shape == (len(idx), 1, 4, 8, 12) and torch.equal(got, want)


def test_unknown_data_is_not_resident() -> None:
    assert ResidentData.from_dataset([{"image": torch.zeros(1, 4, 4)}], CPU) is None


def test_save_clock(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(stopping.time, "monotonic", lambda: now[0])
    clock = SaveClock(every_s=10, every_epochs=0)
    assert not clock.due_by_time() and not clock.due_at_epoch_end(1, 5)
    assert clock.due_at_epoch_end(5, 5)  # always at the end
    now[0] = 110.0
    assert clock.due_by_time() and clock.due_at_epoch_end(2, 5)
    clock.saved()
    assert not clock.due_by_time()
    by_epochs = SaveClock(every_s=0, every_epochs=2)
    now[0] = 1e6
    assert not by_epochs.due_by_time()  # 0: off
    assert [by_epochs.due_at_epoch_end(e, 5) for e in range(1, 6)] == [
        False, True, False, True, True]


def test_stop_signals_turn_sigterm_into_a_request() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signum == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C stops at once
            os.kill(os.getpid(), signal.SIGINT)
    line = stopped_message(signal.SIGTERM, "runs/x", 2, 5, 9)
    assert line == ("stopped by SIGTERM after step 5/9 of epoch 3; checkpoint written to runs/x; "
                    "resume with: mmae train --resume runs/x")
    assert stopped_message(signal.SIGINT, "r", 4, 0, 9).startswith("stopped by SIGINT after "
                                                                    "epoch 4; checkpoint")


def test_data_that_does_not_fit_is_not_copied(tiny_mvtec, tmp_path, monkeypatch) -> None:
    from mmae.training import resident

    ds = open_image_dataset(tiny_mvtec, "train", image_size=32, progress=False)
    vds = open_video_dataset(_random_videos(tmp_path, [7, 9]), "train")
    clips = ClipDataset(vds, clip_length=4)
    monkeypatch.setattr(resident, "_free_bytes", lambda device: 1000)  # 1 kB free
    assert ResidentData.from_dataset(ds, CPU).pixels is ds.images  # used in place, no copy
    assert ResidentData.from_dataset(Subset(ds, [0, 1]), CPU) is None
    assert ResidentData.from_dataset(clips, CPU) is None


def test_resident_and_loader_paths_train_the_same_weights(tiny_mvtec, tmp_path,
                                                          monkeypatch) -> None:
    from mmae.config import parse_set, resolve_config
    from mmae.runs.checkpoint import load_checkpoint
    from mmae.training import train as train_module

    cfg = resolve_config("mmae", "cpu", parse_set([
        "epochs=2", "image_size=32", "batch_size=4", "num_scales=2", "latent_dim=16",
        "memory_size=8", "widths=[8,8,8]"]), data=str(tiny_mvtec))
    states = []
    for resident_on in (True, False):
        if not resident_on:  # the DataLoader path, as for data that does not fit
            monkeypatch.setattr(train_module.ResidentData, "from_dataset",
                                classmethod(lambda cls, ds, device: None))
        run = tmp_path / f"r{resident_on}"
        run.mkdir()
        train_module.train(cfg, run, progress=False)
        states.append(load_checkpoint(run / "checkpoint.pt")["model"])
    assert states[0].keys() == states[1].keys()
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
