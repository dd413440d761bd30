"""The patch_pca baseline: exact patch PCA, low-rank reconstruction, localisation, run folder."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from mmae.errors import ConfigError
from mmae.models import create_model, list_models
from mmae.models.patch_pca import PatchPCA
from mmae.runs.checkpoint import load_checkpoint
from mmae.runs.run import Run

SIZE = 32


def _low_rank_images(n: int, seed: int, channels: int = 1) -> torch.Tensor:
    """Images that are sums of three fixed smooth patterns with random coefficients."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(float(SIZE)), torch.arange(float(SIZE)),
                            indexing="ij")
    patterns = torch.stack([torch.sin(xx / 3), torch.cos(yy / 4), torch.sin((xx + yy) / 5)])
    coeff = torch.rand(n, channels, 3, generator=g)
    return 0.5 + 0.15 * torch.einsum("ncp,phw->nchw", coeff, patterns)


def _numpy_patches(images: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Every patch on the stride grid as a row (channel, row, column order), by plain loops."""
    rows = []
    for img in images:
        _, h, w = img.shape
        for i in range(0, h - size + 1, stride):
            for j in range(0, w - size + 1, stride):
                rows.append(img[:, i : i + size, j : j + size].reshape(-1))
    return np.asarray(rows, dtype=np.float64)


def _align_signs(vectors: np.ndarray) -> np.ndarray:
    """Columns with their largest-magnitude entry made positive."""
    rows = np.abs(vectors).argmax(axis=0)
    return vectors * np.sign(vectors[rows, np.arange(vectors.shape[1])])


def _fit(model: PatchPCA, images: torch.Tensor, batch: int) -> PatchPCA:
    model.fit_data(images[i : i + batch] for i in range(0, len(images), batch))
    return model.eval()


def test_registered_as_untrained_image_model() -> None:
    assert "patch_pca" in list_models("image")
    model = create_model("patch_pca", in_channels=1, image_size=SIZE)
    assert model.kind == "image" and model.trainable is False
    assert not list(model.parameters())  # nothing for an optimiser


@pytest.mark.parametrize("channels", [1, 3])
def test_components_equal_numpy_svd(channels: int) -> None:
    """Batch-wise accumulation (uneven batches) gives the PCA of all patches at once."""
    rng = np.random.default_rng(channels)
    images = rng.random((7, channels, 16, 16))
    model = PatchPCA(in_channels=channels, image_size=16, patch_size=4, stride=2, components=10)
    _fit(model, torch.from_numpy(images).float(), batch=3)
    patches = _numpy_patches(images.astype(np.float32), 4, 2)
    mean = patches.mean(axis=0)
    _, s, vt = np.linalg.svd(patches - mean, full_matrices=False)
    np.testing.assert_allclose(model.mean.numpy(), mean, atol=1e-6)
    np.testing.assert_allclose(model.eigenvalues.numpy(), s**2 / len(patches), atol=1e-6)
    np.testing.assert_allclose(model.basis[:, :10].numpy(), _align_signs(vt[:10].T), atol=1e-5)
    assert int(model.num_components) == 10


def test_variance_fraction_matches_scikit_learn() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    images = rng.random((6, 1, 16, 16)) * np.linspace(0.2, 1, 16)  # an uneven spectrum
    patches = _numpy_patches(images.astype(np.float32), 4, 2)
    for fraction in (0.5, 0.8, 0.95):
        model = PatchPCA(in_channels=1, image_size=16, patch_size=4, stride=2,
                         components=fraction)
        _fit(model, torch.from_numpy(images).float(), batch=4)
        ref = PCA(n_components=fraction, svd_solver="full").fit(patches)
        assert int(model.num_components) == ref.n_components_
        k = ref.n_components_
        np.testing.assert_allclose(model.basis[:, :k].numpy(),
                                   _align_signs(ref.components_.T), atol=1e-5)


def test_center_patches_keeps_local_means_exactly() -> None:
    rng = np.random.default_rng(3)
    images = rng.random((5, 3, 16, 16))
    model = PatchPCA(in_channels=3, image_size=16, patch_size=4, stride=2, components=6,
                     center_patches=True)
    _fit(model, torch.from_numpy(images).float(), batch=2)
    patches = _numpy_patches(images.astype(np.float32), 4, 2).reshape(-1, 3, 16)
    centred = (patches - patches.mean(axis=2, keepdims=True)).reshape(-1, 48)
    _, _, vt = np.linalg.svd(centred - centred.mean(axis=0), full_matrices=False)
    const = np.kron(np.eye(3), np.full((16, 1), 0.25))  # unit per-channel constant patches
    assert int(model.num_components) == 3 + 6
    np.testing.assert_allclose(model.basis[:, :3].numpy(), const, atol=1e-6)
    np.testing.assert_allclose(model.basis[:, 3:9].numpy(), _align_signs(vt[:6].T), atol=1e-5)
    # a brightness change of a whole image costs nothing: the constant patches are kept
    x = torch.from_numpy(images[:1]).float()
    with torch.no_grad():
        a = model(x).recon
        b = model(x + 0.1).recon
    assert torch.allclose(b - a, torch.full_like(a, 0.1), atol=1e-5)


def test_low_rank_normal_images_reconstruct_and_a_pasted_patch_is_found() -> None:
    train = _low_rank_images(40, seed=0)
    model = _fit(create_model("patch_pca", in_channels=1, image_size=SIZE, patch_size=8,
                              stride=2, components=6), train, batch=16)
    # each pattern's shifted patches span two directions (a sine and a cosine): rank 6
    assert float(model.eigenvalues[6:].max()) < 1e-9 * float(model.eigenvalues[5])
    normal = _low_rank_images(6, seed=1)
    with torch.no_grad():
        out = model(normal)
    assert out.recon.shape == normal.shape
    assert float((out.recon - normal).abs().max()) < 1e-4
    assert out.anomaly_map.shape == (6, 1, SIZE, SIZE) and out.pred_score.shape == (6,)
    assert torch.allclose(out.anomaly_map, ((normal - out.recon) ** 2).sum(1, keepdim=True))
    assert torch.equal(out.pred_score, out.anomaly_map.flatten(1).amax(1))

    g = torch.Generator().manual_seed(2)
    for y, x in [(3, 20), (12, 12), (22, 5)]:
        bad = normal.clone()
        bad[:, :, y : y + 6, x : x + 6] = torch.rand(6, 1, 6, 6, generator=g)
        with torch.no_grad():
            amap = model(bad).anomaly_map[:, 0]
        for m in amap:
            row, col = divmod(int(m.argmax()), SIZE)
            assert y <= row < y + 6 and x <= col < x + 6
        assert float(amap.amax(dim=(1, 2)).min()) > 100 * float(out.pred_score.max())


def test_state_dict_round_trip_and_unfitted_model() -> None:
    kwargs = dict(in_channels=3, image_size=SIZE, patch_size=4, stride=4, components=0.9)
    model = _fit(create_model("patch_pca", **kwargs), torch.rand(8, 3, SIZE, SIZE), batch=8)
    fresh = create_model("patch_pca", **kwargs).eval()
    with pytest.raises(RuntimeError, match="not fitted"):
        fresh(torch.rand(1, 3, SIZE, SIZE))
    state = model.state_dict()
    assert set(state) == {"mean", "basis", "eigenvalues", "num_components"}
    fresh.load_state_dict(state)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(fresh(x).recon, model(x).recon)
    assert fresh.fitted and int(fresh.num_components) == int(model.num_components)


@pytest.mark.parametrize("kwargs,option", [
    (dict(components=0.0), "components"),
    (dict(components=2.5), "components"),
    (dict(components=50), "components"),  # 1 x 7 x 7 patches have 49 dimensions
    (dict(components=49, center_patches=True), "components"),
    (dict(patch_size=40), "patch_size"),
    (dict(stride=0), "stride"),
    (dict(components="most"), "components"),
])
def test_bad_settings(kwargs: dict, option: str) -> None:
    """The module raises ValueError naming the option; ``create_model`` makes it a ConfigError."""
    settings = {"in_channels": 1, "image_size": SIZE, "patch_size": 7, **kwargs}
    with pytest.raises(ValueError, match=option) as raw:
        PatchPCA(**settings)
    assert not isinstance(raw.value, ConfigError)
    with pytest.raises(ConfigError, match=rf"model 'patch_pca': .*{option}") as err:
        create_model("patch_pca", **settings)
    assert "\n" not in str(err.value)
    assert create_model("patch_pca", in_channels=1, image_size=SIZE, patch_size=7,
                        components=48, center_patches=True)
    assert math.isclose(create_model("patch_pca", components=12).components, 12)


@pytest.mark.slow
def test_train_resume_test_predict_export(cli, tmp_path, tiny_mvtec):
    run = tmp_path / "run"
    # its own map, unstandardised: residuals of flat tiny images have next to no normal spread
    # (the standardised terms are checked in tests/test_contract.py on 48 normal images)
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", run, "--model", "patch_pca",
                       "--quiet", "--set", "image_size=32", "--set", "patch_size=4",
                       "--set", "map_terms=model", "--set", "standardize=none")
    assert code == 0, err
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [Run(run).config().epochs]
    assert log[0]["fit_seconds"] >= 0 and log[0]["samples_per_s"] > 0
    th = json.loads((run / "thresholds.json").read_text())
    assert th["default"] == "normal" and th["normal"]["split"] == "validation"
    assert th["normal"]["value"] > 0
    before = (run / "checkpoint.pt").read_bytes()
    code, _, err = cli("train", "--resume", run, "--quiet")  # a finished fit is not redone
    assert code == 0, err
    assert (run / "checkpoint.pt").read_bytes() == before
    assert len((run / "train_log.jsonl").read_text().splitlines()) == 1
    epochs = Run(run).config().epochs
    fitted = load_checkpoint(run / "checkpoint.pt")["model"]
    code, _, err = cli("train", "--resume", run, "--quiet", "--set", f"epochs={epochs + 1}")
    assert code == 0, err  # extending the run fits again, to the same state
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["epoch"] == epochs + 1 and state["optimizer"] == {}
    assert all(torch.equal(state["model"][k], v) for k, v in fitted.items())
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [epochs, epochs + 1]

    code, _, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "test" / "metrics.json").read_text())
    assert metrics["au_pro"] > 0.9 and metrics["image_auroc"] > 0.9  # bright squares

    code, _, err = cli("predict", "--run", run, tiny_mvtec / "test" / "spot", "--out",
                       tmp_path / "pred", "--quiet")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "pred" / "scores.csv")))
    assert len(rows) == 6 and all(r["anomalous"] == "1" for r in rows)

    pytest.importorskip("onnxruntime")
    code, out, err = cli("export", "--run", run, "--out", tmp_path / "m.onnx", "--quiet")
    assert code == 0, err
    diffs = dict(part.rsplit(" ", 1) for part in out.splitlines()[-1].split(": ")[1].split(", "))
    assert set(diffs) == {"recon", "anomaly_map", "pred_score"}
    assert all(float(v) < 1e-4 for v in diffs.values()), diffs
