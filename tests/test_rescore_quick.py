"""The post-processing study's scripts: ``rescore.py --quick`` (a tiny run re-scored with every
image candidate) and ``rescore_table.py --quick`` (a paired difference computed by hand)."""

from __future__ import annotations

import pytest
from conftest import run_benchmark


@pytest.mark.slow
def test_rescore_quick():
    proc = run_benchmark("rescore.py", "--quick")
    assert proc.returncode == 0, proc.stderr
    assert "quick:" in proc.stdout


def test_rescore_table_quick():
    proc = run_benchmark("rescore_table.py", "--quick")
    assert proc.returncode == 0, proc.stderr
    assert "| x | 0.800 | 0.800 | +0.200" in proc.stdout
