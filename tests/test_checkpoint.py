"""Checkpoints: atomic writes, safe loading, run-folder protection."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from mmae.errors import CheckpointError, RunFolderError
from mmae.runs import checkpoint as ck


def test_roundtrip_plain_dict(tmp_path):
    state = {"model": {"w": torch.arange(4.0)}, "epoch": 3, "rng": {"python": (3, (1, 2), None)}}
    ck.save_checkpoint(tmp_path / "c.pt", state)
    back = ck.load_checkpoint(tmp_path / "c.pt")
    assert back["epoch"] == 3
    assert torch.equal(back["model"]["w"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


class _Payload:
    """Unpickling this object would create a file (the attack a safe loader must stop)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    target = tmp_path / "pwned.txt"
    bad = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": _Payload(str(target))}, bad)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="refused"):
        ck.load_checkpoint(bad)
    assert not target.exists()
    # The same payload through plain pickle does create the file: the test can fail.
    with open(tmp_path / "raw.pkl", "wb") as fh:
        pickle.dump(_Payload(str(target)), fh)
    with open(tmp_path / "raw.pkl", "rb") as fh:
        pickle.load(fh).close()
    assert target.exists()


def test_truncated_and_missing_checkpoints(tmp_path):
    ck.save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.ones(1000)}})
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        ck.load_checkpoint(tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        ck.load_checkpoint(tmp_path / "nope.pt")
    ck.save_checkpoint(tmp_path / "n.pt", {"weights": 1})
    with pytest.raises(CheckpointError, match="not an mmae checkpoint"):
        ck.load_checkpoint(tmp_path / "n.pt")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    ck.atomic_write_bytes(path, b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        ck.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_out_dir_is_never_overwritten_silently(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep")
    with pytest.raises(RunFolderError, match="--overwrite"):
        ck.prepare_out_dir(run, overwrite=False)
    assert (run / "precious.txt").read_text() == "keep"
    ck.prepare_out_dir(run, overwrite=True)
    assert not any(run.iterdir())
    assert (tmp_path / "run.old" / "precious.txt").read_text() == "keep"
    # an empty existing folder is fine
    assert ck.prepare_out_dir(tmp_path / "empty", overwrite=False).is_dir()


def test_failed_command_leaves_things_as_they_were(tmp_path):
    new = tmp_path / "new"
    with pytest.raises(ValueError), ck.output_folder(new, overwrite=False):
        raise ValueError("bad input")
    assert not new.exists()

    old = tmp_path / "old"
    old.mkdir()
    (old / "precious.txt").write_text("keep")
    with pytest.raises(ValueError), ck.output_folder(old, overwrite=True):
        raise ValueError("bad input")
    assert (old / "precious.txt").read_text() == "keep"
    assert not (tmp_path / "old.old").exists()

    with pytest.raises(ValueError), ck.output_folder(new, overwrite=False) as out:
        (out / "checkpoint.pt").write_text("partial work is kept")
        raise ValueError("late failure")
    assert (new / "checkpoint.pt").is_file()
