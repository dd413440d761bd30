"""``mmae benchmark --jobs N`` over G GPUs (a faked GPU count) and each cell's peak GPU memory."""

from __future__ import annotations

import json
import queue
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import BENCH_FAST, write_tiny_mvtec

from mmae.benchmark import jobs


def test_workers_spread_round_robin_over_the_gpus() -> None:
    assert [jobs.worker_gpu(i, 2) for i in range(5)] == [0, 1, 0, 1, 0]  # N > G: several each
    assert [jobs.worker_gpu(i, 4) for i in range(3)] == [0, 1, 2]
    assert jobs.worker_gpu(3, 0) is None  # no GPU: the CPU


@pytest.mark.parametrize("setting, expected", [
    ("auto", ["cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1"]),
    ("cuda", ["cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1"]),
    ("cpu", [None] * 5)])
def test_each_worker_trains_its_cells_on_its_gpu(monkeypatch, setting, expected) -> None:
    seen = []
    monkeypatch.setattr(jobs, "execute_cell",
                        lambda plan, key, cell, device=None: seen.append(device) or ("done", {}))
    monkeypatch.setattr(jobs, "_WORKER", {"index": None, "gpus": 0})
    plan = SimpleNamespace(configs={"ae": SimpleNamespace(device=setting)})
    for i in range(5):  # five workers on a machine with three GPUs
        indices = queue.Queue()
        indices.put(i)
        jobs._init_worker(indices, threads=1, gpus=3)
        jobs._worker_cell(plan, ("ae", "tiny", 0), Path("cell"))
    assert seen == expected


def test_results_record_peak_gpu_memory_null_on_the_cpu(cli, tmp_path: Path) -> None:
    write_tiny_mvtec(tmp_path / "data", n_train=8, n_test=2)
    out = tmp_path / "bench"
    code, _, err = cli("benchmark", "--data", tmp_path / "data", "--models", "ae", "--out", out,
                       "--quiet", "--set", "device=cpu", *BENCH_FAST)
    assert code == 0, err
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["done"]
    assert "peak_gpu_memory_mb" in cells[0] and cells[0]["peak_gpu_memory_mb"] is None
    cell = json.loads((out / "cells" / "tiny" / "ae" / "seed0" / "cell.json").read_text())
    assert cell["peak_gpu_memory_mb"] is None


def test_ctrl_c_during_a_cell_stops_the_benchmark(cli, tmp_path: Path, monkeypatch) -> None:
    import signal

    from mmae.training.stopping import TrainingStopped

    def stopped(cfg, run, **kw):  # what the loop raises after SIGINT: checkpoint written
        raise TrainingStopped("stopped by SIGINT after epoch 1; ...", signal.SIGINT)

    monkeypatch.setattr("mmae.training.train.train", stopped)
    write_tiny_mvtec(tmp_path / "data", n_train=8, n_test=2)
    code, _, err = cli("benchmark", "--data", tmp_path / "data", "--models", "ae,vae", "--out",
                       tmp_path / "bench", "--quiet", *BENCH_FAST)
    assert code == 130 and "mmae: interrupted" in err  # not "cell ae/tiny failed", then vae
    assert "failed" not in err
