"""Interrupted training resumes to the exact weights of an uninterrupted run (CPU, same seed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import torch

from mmae.runs.checkpoint import load_checkpoint

TRAIN = ["--model", "mmae", "--set", "epochs=4", "--set", "image_size=32", "--set",
         "batch_size=4", "--set", "num_scales=2", "--set", "latent_dim=32", "--quiet"]

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
