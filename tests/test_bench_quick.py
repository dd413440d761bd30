"""The training benchmarks' ``--quick`` modes run end to end and write their JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_bench_train_quick(tmp_path):
    out = tmp_path / "train.json"
    bench = ROOT / "BENCHMARKS.md"
    before = bench.read_text()
    proc = _run("bench_train.py", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [r["case"] for r in rows] == ["quick"]
    r = rows[0]
    assert r["steps"] == 1 and r["images"] == 16 and r["epochs"] == 1
    assert r["bare_s"] > 0 and r["loop_s"] > 0 and r["step_gflop"] > 0
    assert r["fraction"] == pytest.approx(r["loop_samples_per_s"] / r["bare_samples_per_s"])
    assert "| quick | this tree | 32 |" in proc.stdout
    assert bench.read_text() == before  # --quick leaves BENCHMARKS.md alone
