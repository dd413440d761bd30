"""ONNX export matches the torch model (onnxruntime, another batch size than the export's)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_export_matches_torch(cli, tmp_path, tiny_mvtec):
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", run, "--quiet", "--set",
                       "epochs=1", "--set", "image_size=32", "--set", "num_scales=2",
                       "--set", "latent_dim=32", "--set", "map_terms=model")
    assert code == 0, err
    code, out, err = cli("export", "--run", run, "--out", tmp_path / "m.onnx", "--quiet")
    assert code == 0, err
    assert (tmp_path / "m.onnx").stat().st_size > 1000
    diffs = dict(part.rsplit(" ", 1) for part in out.splitlines()[-1].split(": ")[1].split(", "))
    assert set(diffs) == {"recon", "anomaly_map", "pred_score"}
    assert all(float(v) < 1e-4 for v in diffs.values()), diffs
    # an existing file is not overwritten silently
    code, _, err = cli("export", "--run", run, "--out", tmp_path / "m.onnx", "--quiet")
    assert code == 2 and "already exists" in err
