"""torchrun data-parallel training (gloo on the CPU; NCCL takes the same path on GPUs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmae.runs.checkpoint import load_checkpoint


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path, tiny_mvtec):
    torchrun = Path(sys.executable).with_name("torchrun")
    run = tmp_path / "ddp"
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node=2", "--master_port=29517", "-m", "mmae", "train",
         "--data", str(tiny_mvtec), "--out", str(run), "--quiet", "--set", "epochs=2",
         "--set", "image_size=32", "--set", "num_scales=2", "--set", "latent_dim=32",
         "--set", "device=cpu"],  # gloo: two processes on any machine, GPUs or not
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("trained mmae") == 1  # only rank 0 reports and writes
    log = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["epoch"] == 2
    assert not any(k.startswith("module.") for k in state["model"])  # plain, loadable anywhere
