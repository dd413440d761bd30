"""``mmae benchmark --seeds/--grid/--compare/--jobs`` on tiny data; the comparison statistics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import BENCH_FAST, write_two_categories

from mmae.benchmark import runner as B
from mmae.benchmark.stats import (
    bootstrap_interval,
    compare_models,
    parse_compare,
    resolve_comparisons,
    t_interval,
)
from mmae.benchmark.tables import comparison_table, format_tables
from mmae.benchmark.variants import expand_grid, parse_grid, parse_variant, split_top
from mmae.config import accepts_setting
from mmae.errors import ConfigError, RunFolderError
from mmae.runs.checkpoint import load_checkpoint
from mmae.runs.run import Run

FAST = BENCH_FAST
TIMING = ("train_seconds", "test_seconds")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """Two tiny categories: ``tiny`` (an object) and ``grid`` (a texture)."""
    return write_two_categories(tmp_path_factory.mktemp("bench_seeds") / "data", n_test=3)


def _trained(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns
            for p in sorted(out.glob("cells/*/*/seed*/run/checkpoint.pt"))}


def test_seeds_recorded_resumed_and_added(cli, tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    base = ["benchmark", "--data", tiny_root, "--models", "ae", "--categories", "tiny",
            "--out", out, "--quiet", *FAST]
    code, stdout, err = cli(*base, "--seeds", "0,1")
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    assert [(c["model"], c["seed"], c["status"]) for c in results["cells"]] == [
        ("ae", 0, "done"), ("ae", 1, "done")]
    assert results["benchmark"]["seeds"] == [0, 1]
    for s in (0, 1):  # the seed reached the run's config
        assert Run(out / f"cells/tiny/ae/seed{s}/run").config().seed == s
    w0, w1 = (load_checkpoint(out / f"cells/tiny/ae/seed{s}/run/checkpoint.pt")["model"]
              for s in (0, 1))
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)  # the seeds trained different nets
    tables = (out / "tables.md").read_text()
    aupro = [c["au_pro"] for c in results["cells"]]
    mean, std = sum(aupro) / 2, abs(aupro[0] - aupro[1]) / math.sqrt(2)
    assert f"| objects | tiny | **{mean:.3f} ± {std:.3f}** |" in tables
    assert "mean ± std over 2 seeds" in tables

    # One seed-cell interrupted: only it is trained again.
    before = _trained(out)
    (out / "cells/tiny/ae/seed1/cell.json").unlink()
    code, _, err = cli(*base, "--seeds", "0,1")
    assert code == 0, err
    after = _trained(out)
    assert {k for k in before if after[k] != before[k]} == {"cells/tiny/ae/seed1/run/checkpoint.pt"}

    # More seeds: only the new cell is trained; the manifest records them.
    code, _, err = cli(*base, "--seeds", "0,1,2")
    assert code == 0, err
    grown = _trained(out)
    assert set(grown) - set(after) == {"cells/tiny/ae/seed2/run/checkpoint.pt"}
    assert all(grown[k] == after[k] for k in after)
    assert json.loads((out / "benchmark.json").read_text())["seeds"] == [0, 1, 2]
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert [c["seed"] for c in cells] == [0, 1, 2]

    # Fewer or other seeds are another benchmark.
    code, _, err = cli(*base, "--seeds", "0")
    assert code == 2 and "different benchmark" in err and "seeds" in err
    code, _, err = cli(*base, "--seeds", "0,1", "--set", "seed=3")
    assert code == 2 and "--seeds and --set seed" in err


def test_seed_tables_and_comparison_section() -> None:
    cells = []
    values = {("ae", 0): 0.80, ("ae", 1): 0.90, ("mmae", 0): 0.85, ("mmae", 1): 0.98}
    for (m, s), v in values.items():
        cells.append({"model": m, "category": "tiny", "seed": s, "status": "done", "au_pro": v,
                      "image_auroc": 1.0, "pixel_auroc": 1.0})
    results = {"benchmark": {"kind": "image", "data": "/d", "models": ["ae", "mmae"],
                             "categories": ["tiny"], "seeds": [0, 1], "grid": {},
                             "preset": "cpu", "sets": {}}, "cells": cells,
               "comparisons": [compare_models(cells, "ae", "mmae", "au_pro", ["tiny"])]}
    text = format_tables(results)
    # ae: mean 0.85, sd = 0.1/sqrt(2) = 0.0707; mmae: mean 0.915, sd = 0.13/sqrt(2) = 0.0919
    assert "| objects | tiny | 0.850 ± 0.071 | **0.915 ± 0.092** |" in text
    assert "| **mean** | | 0.850 ± 0.071 | **0.915 ± 0.092** |" in text
    # differences 0.05 and 0.08: mean 0.065, sd 0.03/sqrt(2); t(0.975, 1) = 12.7062047
    half = 12.7062047 * (0.03 / math.sqrt(2)) / math.sqrt(2)
    assert "**Comparison: mmae − ae, AU-PRO@0.3**" in text and "95% CI: paired t" in text
    assert f"| tiny | 2 | +0.065 | [{0.065 - half:+.3f}, {0.065 + half:+.3f}] |" in text


def test_t_interval_hand_computed() -> None:
    d = [0.01, 0.03, 0.02, 0.04]
    # mean 0.025; squared deviations 2.25e-4, 2.5e-5, 2.5e-5, 2.25e-4 -> var 5e-4/3
    sd = math.sqrt(5e-4 / 3)
    half = 3.18244630528 * sd / math.sqrt(4)  # t_{0.975, 3} from a t table
    lo, hi = t_interval(d)
    assert (lo, hi) == pytest.approx((0.025 - half, 0.025 + half), abs=1e-9)
    assert (lo, hi) == pytest.approx((0.0044574, 0.0455426), abs=1e-6)
    assert t_interval([0.5]) is None


def test_bootstrap_interval_hand_computed() -> None:
    # Two pairs: a resample's mean is d1, (d1+d2)/2 or d2 with chances 1/4, 1/2, 1/4, so the
    # 2.5% and 97.5% quantiles are d1 and d2.
    assert bootstrap_interval([0.1, 0.3]) == pytest.approx((0.1, 0.3))
    assert bootstrap_interval([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2))
    d = [0.01, 0.03, 0.02, 0.04, -0.01, 0.05]
    lo, hi = bootstrap_interval(d)
    assert bootstrap_interval(d) == (lo, hi)  # fixed seed
    assert min(d) <= lo < sum(d) / len(d) < hi <= max(d)
    assert bootstrap_interval([1.0]) is None


def test_compare_pairs_over_categories_and_seeds() -> None:
    cells = [{"model": m, "category": c, "seed": s, "status": "done", "au_pro": v}
             for m, c, s, v in [("a", "x", 0, 0.5), ("b", "x", 0, 0.51), ("a", "x", 1, 0.6),
                                ("b", "x", 1, 0.63), ("a", "y", 0, 0.7), ("b", "y", 0, 0.72),
                                ("a", "y", 1, 0.8), ("b", "y", 1, 0.84)]]
    cells.append({"model": "b", "category": "y", "seed": 2, "status": "failed"})
    comp = compare_models(cells, "a", "b", "au_pro", ["x", "y"])
    assert comp["mean"]["n"] == 4 and comp["mean"]["diff"] == pytest.approx(0.025)
    assert comp["mean"]["ci_t"] == pytest.approx(list(t_interval([0.01, 0.03, 0.02, 0.04])))
    assert comp["categories"]["x"]["diff"] == pytest.approx(0.02)
    assert comp["categories"]["y"]["n"] == 2
    table = comparison_table(comp)
    assert "| **mean** | 4 | +0.025 | [+0.004, +0.046] * |" in table
    assert "\\* the CI excludes 0." in table


def test_grid_names_and_expansion() -> None:
    assert accepts_setting("mmae", "latent") and accepts_setting("ae", "epochs")
    assert not accepts_setting("vae", "memory_size") and accepts_setting("mmae", "memory_size")
    assert not accepts_setting("mmae", "bogus")
    assert split_top("ae,mmae[fuser=sum,num_scales=3], vae") == [
        "ae", "mmae[fuser=sum,num_scales=3]", "vae"]
    assert parse_variant("mmae[fuser=sum,num_scales=3]") == (
        "mmae", {"fuser": "sum", "num_scales": "3"})
    grid = parse_grid(["fuser=sum,concat", "num_scales=1,3"])
    assert expand_grid(["mmae", "vae"], grid) == [
        "mmae[fuser=sum,num_scales=1]", "mmae[fuser=sum,num_scales=3]",
        "mmae[fuser=concat,num_scales=1]", "mmae[fuser=concat,num_scales=3]", "vae"]
    assert expand_grid(["mmae[latent=spatial]", "vae"], parse_grid(["memory_size=8,16"])) == [
        "mmae[latent=spatial,memory_size=8]", "mmae[latent=spatial,memory_size=16]", "vae"]
    for bad, message in [(lambda: parse_variant("mmae[bogus=1]"), "no setting 'bogus'"),
                         (lambda: parse_variant("mmae[latent]"), "not key=value"),
                         (lambda: parse_grid(["latent"]), "expected KEY=V1,V2"),
                         (lambda: expand_grid(["vae"], {"memory_size": ["8"]}),
                          "--grid memory_size: not a setting of any")]:
        with pytest.raises(ConfigError, match=message):
            bad()


def test_plan_with_variants(tiny_root: Path) -> None:
    plan = B.plan_benchmark(tiny_root, "vae,mmae[latent=spatial]", "tiny",
                            sets={"epochs": 2, "image_size": 32, "widths": [8, 8, 8],
                                  "latent_dim": 8, "memory_size": 8},
                            grid={"num_scales": ["1", "2"]}, seeds=[3, 4])
    assert plan.models == ["vae", "mmae[latent=spatial,num_scales=1]",
                           "mmae[latent=spatial,num_scales=2]"]
    cfg = plan.configs["mmae[latent=spatial,num_scales=2]"]
    assert cfg.model == "mmae" and cfg.model_args["latent"] == "spatial"
    assert cfg.model_args["num_scales"] == 2 and cfg.epochs == 2 and plan.seeds == [3, 4]
    manifest = plan.manifest()
    assert manifest["seeds"] == [3, 4] and manifest["grid"] == {"num_scales": ["1", "2"]}
    assert plan.configs["vae"].seed == 0  # the preset's seed; each cell gets its own
    assert B.plan_benchmark(tiny_root, "ae", "tiny").seeds == [0]


def test_grid_run_and_compare_cli(cli, tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    args = ["benchmark", "--data", tiny_root, "--models", "ae,mmae", "--categories", "tiny",
            "--grid", "memory_size=4,8", "--compare", "ae[memory_size=8],mmae[memory_size=8]",
            "--out", out, "--quiet", *FAST[:8]]
    code, _, err = cli(*args, "--compare", "mmae[memory_size=4],vae")
    assert code == 2 and "--compare: 'vae' is not one of the benchmark's models" in err
    assert not out.exists()
    code, stdout, err = cli(*args)
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    models = ["ae[memory_size=4]", "ae[memory_size=8]", "mmae[memory_size=4]",
              "mmae[memory_size=8]"]
    assert results["benchmark"]["models"] == models
    assert [c["model"] for c in results["cells"]] == models
    assert (out / "cells/tiny/mmae[memory_size=8]/seed0/cell.json").is_file()
    assert f"| | category | {' | '.join(models)} |" in stdout
    comp = results["comparisons"][0]
    assert (comp["a"], comp["b"], comp["metric"]) == (
        "ae[memory_size=8]", "mmae[memory_size=8]", "au_pro")
    cells = {c["model"]: c["au_pro"] for c in results["cells"]}
    diff = cells["mmae[memory_size=8]"] - cells["ae[memory_size=8]"]
    assert comp["mean"]["diff"] == pytest.approx(diff) and comp["mean"]["ci_t"] is None
    assert "**Comparison: mmae[memory_size=8] − ae[memory_size=8], AU-PRO@0.3**" in stdout
    assert f"| tiny | 1 | {diff:+.3f} | n/a (fewer than 2 pairs) |" in stdout
    assert "excludes 0" not in stdout


@pytest.mark.slow
def test_jobs_match_one_job(cli, tiny_root: Path, tmp_path: Path, monkeypatch) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each of 2 workers gets on 2 CPUs
    try:
        runs = {}
        for jobs in (1, 2):
            out = tmp_path / f"jobs{jobs}"
            if jobs == 2:  # the cells must train in the workers, not in this process

                def not_here(*a, **k):
                    raise AssertionError("a cell trained in the main process")

                monkeypatch.setattr("mmae.training.train.train", not_here)
            code, _, err = cli("benchmark", "--data", tiny_root, "--models", "ae",
                               "--out", out, "--quiet", "--jobs", jobs, *FAST)
            assert code == 0, err
            runs[jobs] = [{k: v for k, v in c.items() if k not in TIMING}
                          for c in json.loads((out / "results.json").read_text())["cells"]]
    finally:
        torch.set_num_threads(threads)
    assert len(runs[1]) == 2 and all(c["status"] == "done" for c in runs[1])
    assert runs[2] == runs[1]


def test_compare_parsing_and_errors(tiny_root: Path, tmp_path: Path) -> None:
    assert parse_compare(["memae,mmae[latent=spatial,fuser=sum]", "mmae,ae", "mmae,ae"]) == [
        ("memae", "mmae[latent=spatial,fuser=sum]"), ("mmae", "ae")]
    with pytest.raises(ConfigError, match="expected two different models"):
        parse_compare(["mmae"])
    assert resolve_comparisons(["ae", "mmae[latent=spatial]"], "image",
                               ["ae, mmae[ latent = spatial ]"], None) == (
        [("ae", "mmae[latent=spatial]")], "au_pro")
    assert resolve_comparisons(["ae3d", "mmae3d"], "video", ["ae3d,mmae3d"], None)[1] == (
        "frame_auc_micro")
    with pytest.raises(ConfigError, match="--compare-metric au_pro: choose one of"):
        resolve_comparisons(["ae3d", "mmae3d"], "video", ["ae3d,mmae3d"], "au_pro")
    with pytest.raises(ConfigError,
                       match=r"mmae\[fuser=bogus\]: model 'mmae': fuser='bogus' is not valid"):
        B.plan_benchmark(tiny_root, "ae,mmae[fuser=bogus]")
    out = tmp_path / "old"
    out.mkdir()
    (out / "benchmark.json").write_text(json.dumps({"format": 1, "models": ["ae"]}))
    with pytest.raises(RunFolderError, match=r"another mmae version \(format 1\)"):
        B.open_benchmark_dir(out, {"format": 2, "models": ["ae"], "seeds": [0]}, False)
