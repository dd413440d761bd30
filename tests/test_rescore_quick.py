"""The post-processing study's scripts: ``rescore.py --quick`` (a tiny run re-scored with every
image candidate) and ``rescore_table.py --quick`` (a paired difference computed by hand)."""

from __future__ import annotations

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
def test_rescore_quick():
    proc = _run("rescore.py", "--quick")
    assert proc.returncode == 0, proc.stderr
    assert "quick:" in proc.stdout


def test_rescore_table_quick():
    proc = _run("rescore_table.py", "--quick")
    assert proc.returncode == 0, proc.stderr
    assert "| x | 0.800 | 0.800 | +0.200" in proc.stdout
