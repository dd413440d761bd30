"""The training benchmarks' ``--quick`` modes run end to end and write their JSON."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, run_benchmark


@pytest.mark.slow
def test_bench_train_quick(tmp_path):
    out = tmp_path / "train.json"
    bench = ROOT / "BENCHMARKS.md"
    before = bench.read_text()
    proc = run_benchmark("bench_train.py", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())
    assert [r["case"] for r in rows] == ["quick"]
    r = rows[0]
    assert r["steps"] == 1 and r["images"] == 16 and r["epochs"] == 1
    assert r["bare_s"] > 0 and r["loop_s"] > 0 and r["step_gflop"] > 0
    assert r["fraction"] == pytest.approx(r["loop_samples_per_s"] / r["bare_samples_per_s"])
    assert "| quick | this tree | 32 |" in proc.stdout
    assert bench.read_text() == before  # --quick leaves BENCHMARKS.md alone


@pytest.mark.slow
def test_bench_gpu_quick_on_this_device(tmp_path):
    out = tmp_path / "gpu.json"
    bench = ROOT / "BENCHMARKS.md"
    before = bench.read_text()
    proc = run_benchmark("bench_gpu.py", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["matmul_peak_tflops"] > 0
    rows = res["results"]
    # quick: mmae with channels_last off and on, ae3d (3D: channels_last does not apply)
    assert [(r["model"], r["compile"], r["channels_last"]) for r in rows] == [
        ("mmae", "off", "off"), ("mmae", "off", "on"), ("ae3d", "off", "off")]
    gpu = res["device"]["type"] == "cuda"
    for r in rows:
        assert "error" not in r, r["error"]
        assert r["step_gflop"] > 0
        for part in ("bare", "loop"):
            p = r[part]
            assert p["samples_per_s"] > 0
            assert p["tflops"] == pytest.approx(p["samples_per_s"] / r["batch_size"]
                                                * r["step_gflop"] / 1e3)
            assert p["pct_of_peak"] == pytest.approx(100 * p["tflops"]
                                                     / res["matmul_peak_tflops"])
            assert (p["peak_memory_mb"] is not None) == gpu
        assert r["loop_fraction"] == pytest.approx(r["loop"]["samples_per_s"]
                                                   / r["bare"]["samples_per_s"])
    t1 = res["projection"]["table1"]
    rate = rows[0]["loop"]["samples_per_s"]  # mmae, default settings
    assert t1["mmae"]["samples"] == 3629 * 2000
    assert t1["mmae"]["hours_default"] == pytest.approx(3629 * 2000 / rate / 3600, abs=1e-3)
    assert t1["memae"]["hours_default"] is None and t1["total_hours_default"] is None
    t2 = res["projection"]["table2"]
    assert t2["ae3d/ped2"]["samples"] == (2550 - 16 * 15) * 100
    (prof,) = res["profiles"]  # quick: the ae3d step, profiled
    assert prof["model"] == "ae3d" and prof["device_ms_per_step"] > 0 and prof["top"]
    assert 0 < prof["matmul_conv_share"] <= 1
    assert sum(t["share"] for t in prof["top"]) <= 1 + 1e-9
    assert "| mmae | 32 | 4 | off | on |" in proc.stdout
    assert bench.read_text() == before  # without --write BENCHMARKS.md is left alone


def test_bench_gpu_settings_and_projection():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.variants("mmae", {"mmae"}, ["on"]) == [
        ("off", "off"), ("off", "on"), ("on", "off"), ("on", "on")]
    assert bench.variants("memae", {"mmae"}, ["on"]) == [("off", "off"), ("off", "on")]
    assert bench.variants("ae3d", {"ae3d"}, ["on", "max-autotune"]) == [
        ("off", "off"), ("on", "off"), ("max-autotune", "off")]  # no channels_last in 3D
    rows = [{"model": m, "compile": c, "channels_last": cl, "loop": {"samples_per_s": v}}
            for m, c, cl, v in [("mmae", "off", "off", 1000.0), ("mmae", "on", "on", 4000.0)]]
    rows += [{"model": m, "compile": "off", "channels_last": "off",
              "loop": {"samples_per_s": 500.0}} for m in ("memae", "ae", "ssim_ae", "vae")]
    t1 = bench.projection(rows)["table1"]
    assert t1["mmae"]["hours_default"] == pytest.approx(3629 * 2000 / 1000 / 3600, abs=1e-3)
    assert t1["mmae"]["hours_best"] == pytest.approx(3629 * 2000 / 4000 / 3600, abs=1e-3)
    four = 4 * round(3629 * 2000 / 500 / 3600, 3)
    assert t1["total_hours_default"] == pytest.approx(
        round(3629 * 2000 / 1000 / 3600, 3) + four, abs=1e-3)
    assert bench.projection(rows)["table2"]["total_hours_best"] is None  # no video model ran
