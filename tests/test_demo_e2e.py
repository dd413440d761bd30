"""End to end on the built-in synthetic data: the demo reaches useful quality on 2 CPU cores."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_image_demo_end_to_end(cli, tmp_path):
    out = tmp_path / "demo"
    code, stdout, err = cli("demo", "--out", out, "--quiet")
    assert code == 0, err
    metrics = json.loads((out / "run" / "test" / "metrics.json").read_text())
    assert metrics["image_auroc"] >= 0.9, metrics
    assert "image AUROC" in stdout and "AU-PRO" in stdout
    assert (out / "run" / "test" / "grid.png").is_file()


@pytest.mark.slow
def test_same_seed_same_metrics(cli, tmp_path, tiny_mvtec):
    results = []
    for name in ("a", "b"):
        code, _, err = cli("train", "--data", tiny_mvtec, "--out", tmp_path / name, "--quiet",
                           "--set", "epochs=2", "--set", "image_size=32", "--set", "seed=3",
                           "--set", "num_scales=2", "--set", "latent_dim=32")
        assert code == 0, err
        code, _, err = cli("test", "--run", tmp_path / name, "--quiet")
        assert code == 0, err
        m = json.loads((tmp_path / name / "test" / "metrics.json").read_text())
        m.pop("run")
        results.append(m)
    assert results[0] == results[1]
    assert (tmp_path / "a" / "test" / "scores.csv").read_bytes() == \
        (tmp_path / "b" / "test" / "scores.csv").read_bytes()
