"""Interrupted training resumes to the exact weights of an uninterrupted run (CPU, same seed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import write_tiny_mvtec

from mmae.runs.checkpoint import load_checkpoint

# save_every=1: a checkpoint at every epoch's end (the default is by wall clock)
TRAIN = ["--model", "mmae", "--set", "epochs=4", "--set", "save_every=1", "--set",
         "image_size=32", "--set", "batch_size=4", "--set", "num_scales=2", "--set",
         "latent_dim=32", "--quiet"]

# Runs the CLI in a child process that SIGKILLs itself in the middle of an epoch (after the
# given number of optimizer steps): no cleanup, no atexit, exactly like a crash or `kill -9`.
KILLER = textwrap.dedent("""
    import os, signal, sys, torch
    limit = int(sys.argv[1]); count = [0]
    orig = torch.optim.Adam.step
    def step(self, *a, **k):
        out = orig(self, *a, **k)
        count[0] += 1
        if count[0] == limit:
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    torch.optim.Adam.step = step
    from mmae.cli.main import main
    sys.exit(main(sys.argv[2:]))
""")


def _mmae(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmae", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, tiny_mvtec):
    ref = _mmae("train", "--data", tiny_mvtec, "--out", tmp_path / "ref", *TRAIN)
    assert ref.returncode == 0, ref.stderr
    # 12 images, batch 4 -> 3 steps per epoch; step 8 is the middle of epoch 3.
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, "8", "train", "--data", str(tiny_mvtec), "--out",
         str(tmp_path / "cut"), *TRAIN], capture_output=True, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 2
    resumed = _mmae("train", "--resume", tmp_path / "cut", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(tmp_path / "ref" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 4
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


# Sends itself SIGTERM right after the given optimizer step: the loop finishes the step, writes
# the checkpoint and exits 128 + SIGTERM with one line saying how to resume.
TERMINATOR = KILLER.replace("signal.SIGKILL", "signal.SIGTERM")


def _same_weights(a_path, b_path) -> None:
    a, b = load_checkpoint(a_path), load_checkpoint(b_path)
    assert a["epoch"] == b["epoch"] == 4 and a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """``(data, checkpoint)`` of one uninterrupted run (the checkpoint cadence does not change
    the weights)."""
    root = tmp_path_factory.mktemp("ref")
    data = write_tiny_mvtec(root / "data")
    ref = _mmae("train", "--data", data, "--out", root / "ref", *TRAIN)
    assert ref.returncode == 0, ref.stderr
    return data, root / "ref" / "checkpoint.pt"


def test_sigterm_mid_epoch_writes_a_checkpoint_and_resumes_exactly(tmp_path, reference):
    tiny_mvtec, ref_checkpoint = reference
    i = TRAIN.index("save_every=1")
    train = TRAIN[: i - 1] + TRAIN[i + 1 :]  # the default checkpoint cadence (wall clock, end)
    cut = tmp_path / "cut"
    stopped = subprocess.run(
        [sys.executable, "-c", TERMINATOR, "5", "train", "--data", str(tiny_mvtec), "--out",
         str(cut), *train], capture_output=True, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert stopped.stderr.strip().splitlines() == [
        f"mmae: stopped by SIGTERM after step 2/3 of epoch 2; checkpoint written to {cut}; "
        f"resume with: mmae train --resume {cut}"]
    state = load_checkpoint(cut / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (1, 2)  # step 5 = epoch 2's second step
    resumed = _mmae("train", "--resume", cut, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    _same_weights(ref_checkpoint, cut / "checkpoint.pt")


def test_wall_clock_checkpoints_mid_epoch_and_sigkill_resumes_exactly(tmp_path, reference):
    tiny_mvtec, ref_checkpoint = reference
    cut = tmp_path / "cut"
    # save_every_s tiny: a checkpoint after every step; killed inside step 8's update, when the
    # checkpoint of step 7 (epoch 3's first) is on disk
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, "8", "train", "--data", str(tiny_mvtec), "--out",
         str(cut), *TRAIN, "--set", "save_every_s=1e-9"], capture_output=True, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert killed.returncode == -signal.SIGKILL
    state = load_checkpoint(cut / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (2, 1)
    resumed = _mmae("train", "--resume", cut, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    _same_weights(ref_checkpoint, cut / "checkpoint.pt")
    log = [json.loads(line) for line in (cut / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert log[2]["resumed_at_step"] == 1 and "resumed_at_step" not in log[3]
