"""``mmae benchmark`` on tiny data: tables, resume without retraining, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import BENCH_FAST, write_two_categories

from mmae.benchmark import runner as B
from mmae.benchmark.tables import category_group, format_tables
from mmae.data import categories as discover_categories
from mmae.errors import DataError, RunFolderError

FAST = BENCH_FAST


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """Two tiny categories: ``tiny`` (an object) and ``grid`` (a texture)."""
    return write_two_categories(tmp_path_factory.mktemp("bench") / "data", n_test=4)


def _trained(out: Path) -> dict[str, float]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns
            for p in sorted(out.glob("cells/*/*/seed*/run/checkpoint.pt"))}


def test_benchmark_tables_and_resume(cli, tiny_root: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "bench"
    args = ["benchmark", "--data", tiny_root, "--models", "ae,vae", "--out", out,
            "--preset", "bench-cpu", "--quiet", *FAST]
    code, stdout, err = cli(*args)
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    assert [(c["model"], c["category"]) for c in results["cells"]] == [
        ("ae", "grid"), ("vae", "grid"), ("ae", "tiny"), ("vae", "tiny")]
    assert all(c["status"] == "done" and c["au_pro"] is not None for c in results["cells"])
    tables = (out / "tables.md").read_text()
    assert "Table 1: AU-PRO@0.3" in tables and "image AUROC" in tables and "pixel AUROC" in tables
    rows = [line for line in tables.splitlines() if line.startswith("| ")]
    assert rows[0] == "| | category | ae | vae |"
    assert rows[1].startswith("| textures | grid |") and rows[2].startswith("| objects | tiny |")
    assert rows[3].startswith("| **mean** |") and "**" in rows[1].split("|", 3)[3]
    assert "| textures | grid |" in stdout
    report = (out / "report.html").read_text()  # the tables as HTML, a chart, every cell
    assert "Table 1: AU-PRO@0.3" in report and report.count("<table>") == 3 + 3
    assert report.count("<img ") == 1
    assert 'href="cells/tiny/vae/seed0/test/report.html"' in report
    assert (out / "cells" / "tiny" / "vae" / "seed0" / "test" / "report.html").is_file()

    # Run again: every cell is finished, nothing is trained.
    before = _trained(out)
    assert len(before) == 4

    def no_training(*a, **k):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr("mmae.training.train.train", no_training)
    code, stdout2, err = cli(*args)
    assert code == 0, err
    assert _trained(out) == before
    assert json.loads((out / "results.json").read_text())["cells"] == results["cells"]
    monkeypatch.undo()

    # An interrupted cell (no cell.json) is restarted from scratch; the others are kept.
    cell = out / "cells" / "tiny" / "vae" / "seed0"
    (cell / "cell.json").unlink()
    (cell / "stale.txt").write_text("left over")
    code, _, err = cli(*args)
    assert code == 0, err
    after = _trained(out)
    changed = {k for k in before if after[k] != before[k]}
    assert changed == {"cells/tiny/vae/seed0/run/checkpoint.pt"}
    assert not (cell / "stale.txt").exists() and (cell / "cell.json").is_file()

    # A different benchmark in the same --out is refused; --overwrite replaces it.
    code, _, err = cli("benchmark", "--data", tiny_root, "--models", "ae", "--out", out,
                       "--quiet", *FAST)
    assert code == 2 and "different benchmark" in err and "models" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--models", "ae,nope"], "--models: unknown model 'nope'"),
    (["--models", "ae,ae3d"], "mixes image and video"),
    (["--models", ","], "--models: expected a comma-separated list"),
    (["--models", "ae", "--categories", "tiny,bogus"], "--categories: no category 'bogus'"),
    (["--models", "ae", "--set", "bogus=1"], "--set bogus: not a setting of any"),
    (["--models", "ae", "--set", "vae.beta=2"], "model 'vae' is not in --models"),
    (["--models", "mmae", "--set", "image_size=36", "--set", "num_scales=4"], "too small"),
])
def test_bad_arguments_one_line(cli, tiny_root: Path, tmp_path: Path, argv, message) -> None:
    out = tmp_path / "never"
    code, _, err = cli("benchmark", "--data", tiny_root, "--out", out, *argv)
    assert code == 2
    assert err.startswith("mmae: error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    assert not out.exists()


def test_plan_routes_sets_and_finds_video(tmp_path: Path, tiny_root: Path) -> None:
    plan = B.plan_benchmark(tiny_root, "ae,vae", "grid", sets={"epochs": 2, "beta": 3.0,
                                                                "memory_size": 9})
    assert plan.configs["vae"].model_args["beta"] == 3.0
    assert "memory_size" not in plan.configs["vae"].model_args
    assert plan.configs["ae"].model_args["memory_size"] == 9
    assert plan.configs["ae"].epochs == plan.configs["vae"].epochs == 2
    assert list(plan.categories) == ["grid"]
    with pytest.raises(DataError, match="not a video dataset"):
        B.plan_benchmark(tiny_root, "ae3d")
    from mmae.data.synth.video import generate_synthetic_video

    ped2 = generate_synthetic_video(tmp_path / "v" / "one", seed=0, frame_size=(32, 32),
                                    num_train=1, num_test=1, train_frames=20, test_frames=20)
    assert list(discover_categories(ped2, "video")) == ["UCSDped2"]
    assert list(discover_categories(tmp_path / "v" / "one", "video")) == ["UCSDped2"]


def test_not_a_benchmark_folder(tmp_path: Path, tiny_root: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "something").write_text("x")
    with pytest.raises(RunFolderError, match="holds no benchmark.json"):
        B.open_benchmark_dir(out, {"models": ["ae"]}, overwrite=False)
    B.open_benchmark_dir(out, {"models": ["ae"]}, overwrite=True)
    assert (tmp_path / "busy.old" / "something").is_file()
    shutil.rmtree(tmp_path / "busy.old")


def test_video_table_layout() -> None:
    assert category_group("carpet") == category_group("fabric") == "textures"
    assert category_group("disc") == category_group("bottle") == "objects"
    results = {"benchmark": {"kind": "video", "data": "/d", "models": ["ae3d", "mmae3d"],
                             "categories": ["UCSDped2", "avenue"], "preset": "cpu", "sets": {}},
               "cells": [
                   {"model": "ae3d", "category": "UCSDped2", "status": "done",
                    "frame_auc_micro": 0.9, "frame_auc_macro": 0.8},
                   {"model": "mmae3d", "category": "UCSDped2", "status": "done",
                    "frame_auc_micro": 0.95, "frame_auc_macro": 0.7},
                   {"model": "ae3d", "category": "avenue", "status": "failed", "error": "X"},
                   {"model": "mmae3d", "category": "avenue", "status": "done",
                    "frame_auc_micro": 0.8, "frame_auc_macro": 0.6}]}
    text = format_tables(results)
    assert "| model | UCSDped2 | avenue | mean |" in text
    assert "| ae3d | 0.900 | failed | n/a |" in text
    assert "| mmae3d | **0.950** | **0.800** | **0.875** |" in text
    assert "1 of 4 cells not done: ae3d/avenue (failed)" in text


def test_failed_cell_is_recorded_and_retried(cli, tiny_root: Path, tmp_path: Path,
                                             monkeypatch) -> None:
    out = tmp_path / "bench"
    args = ["benchmark", "--data", tiny_root, "--models", "ae,vae", "--categories", "tiny",
            "--out", out, "--quiet", *FAST]
    import mmae.training.train as train_module

    real_train = train_module.train

    def flaky(cfg, run, **kw):
        if cfg.model == "vae":
            raise RuntimeError("boom")
        return real_train(cfg, run, **kw)

    monkeypatch.setattr(train_module, "train", flaky)
    code, stdout, err = cli(*args)
    assert code == 1
    assert "cell vae/tiny failed: RuntimeError: boom" in err
    assert "| objects | tiny | **" in stdout and "| failed |" in stdout
    assert "boom" in (out / "cells" / "tiny" / "vae" / "seed0" / "error.txt").read_text()
    monkeypatch.undo()
    code, _, err = cli(*args)
    assert code == 0, err
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert [c["status"] for c in cells] == ["done", "done"]
    assert not (out / "cells" / "tiny" / "vae" / "seed0" / "error.txt").exists()
