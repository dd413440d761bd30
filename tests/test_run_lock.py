"""One writer per run folder: a second `mmae train` into a run being written is refused with one
line and the first run stays intact; a lock left by a killed process does not block --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmae.errors import RunFolderError
from mmae.runs.checkpoint import load_checkpoint
from mmae.runs.lock import RunLock, is_locked

TRAIN = ["--quiet", "--set", "image_size=32", "--set", "num_scales=2", "--set", "latent_dim=32",
         "--set", "batch_size=2"]


def _mmae(*args: object) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "mmae", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_locked(run: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not is_locked(run):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "the first training never took the lock"
        time.sleep(0.05)


def test_lock_is_exclusive_and_released(tmp_path):
    with RunLock(tmp_path):
        assert is_locked(tmp_path)
        with pytest.raises(RunFolderError, match="being written by pid") as err:
            RunLock(tmp_path).acquire()
        assert "\n" not in str(err.value)
    assert not is_locked(tmp_path)


@pytest.mark.slow
def test_two_concurrent_trainings(tmp_path, tiny_mvtec):
    run = tmp_path / "run"
    epochs = 80  # long enough to be still running while the others start and are refused
    first = _mmae("train", "--data", tiny_mvtec, "--out", run, "--set", f"epochs={epochs}",
                  *TRAIN)
    _wait_locked(run, first)
    # the same command, and the same with --overwrite and with --resume, while it runs
    others = [_mmae("train", "--data", tiny_mvtec, "--out", run, "--set", "epochs=2", *TRAIN),
              _mmae("train", "--data", tiny_mvtec, "--out", run, "--overwrite", "--set",
                    "epochs=2", *TRAIN),
              _mmae("train", "--resume", run, "--quiet")]
    for proc in others:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mmae: error:"), err
        assert "being written" in lines[0], err
    assert first.poll() is None, "the first training ended before the others were refused"
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, epochs + 1))
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == epochs
    assert not (tmp_path / "run.old").exists()  # --overwrite did not move the live run aside
    assert not is_locked(run)


@pytest.mark.slow
def test_stale_lock_of_a_killed_training_does_not_block_resume(tmp_path, tiny_mvtec):
    run = tmp_path / "run"
    proc = _mmae("train", "--data", tiny_mvtec, "--out", run, "--set", "epochs=400",
                 "--set", "save_every=1", *TRAIN)
    _wait_locked(run, proc)
    t0 = time.monotonic()
    while not (run / "checkpoint.pt").is_file():  # killed after its first checkpoint
        assert proc.poll() is None and time.monotonic() - t0 < 300
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / ".lock").is_file() and not is_locked(run)
    done = load_checkpoint(run / "checkpoint.pt")["epoch"]
    resumed = _mmae("train", "--resume", run, "--quiet", "--set", f"epochs={done + 1}")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == done + 1
