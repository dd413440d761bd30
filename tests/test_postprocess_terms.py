"""Map terms and fitted post-processing against independent references (numpy, scipy), the
default's identity with the model's own map, and the fitting rules (training images only,
settings fixed after training, feature terms only for models with encoder features)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import sobel
from scipy.spatial.distance import cdist

from mmae import create_model
from mmae.runs.run import Run
from mmae.scoring import terms as T
from mmae.scoring.fit import fit_postprocess, standardize_stats
from mmae.scoring.postprocess import PostProcess

TINY = dict(in_channels=3, image_size=32, widths=[4, 8, 8, 8], latent_dim=8, memory_size=6,
            num_scales=2, latent="hybrid")


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("mmae", **TINY).eval()


def test_default_is_the_models_own_map() -> None:
    model = _model()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    post = PostProcess("image", 1.0)
    with torch.no_grad():
        _, maps, scores = post.run(model, x)
        ref_maps, ref_scores = post(model(x).anomaly_map)
    assert not post.needs_fit
    torch.testing.assert_close(maps, ref_maps, rtol=0, atol=0)
    torch.testing.assert_close(scores, ref_scores, rtol=0, atol=0)


def test_encoder_features_shapes() -> None:
    model = _model()
    feats = model.features(torch.rand(2, 3, 32, 32))
    # four conv blocks (32 -> 16 -> 8 -> 4 -> 2): the first two, at strides 2 and 4
    assert [tuple(f.shape) for f in feats] == [(2, 4, 16, 16), (2, 8, 8, 8)]
    emb = T.embed(feats)
    assert tuple(emb.shape) == (2, 12, 16, 16)
    for name in ("memae", "ae", "vae", "ssim_ae"):
        assert T.has_features(create_model(name, image_size=32, widths=[4, 8, 8, 8]))
    assert not T.has_features(create_model("patch_pca", image_size=32))


def test_gradient_residual_matches_scipy_sobel() -> None:
    rng = np.random.default_rng(0)
    x, r = rng.random((2, 2, 3, 9, 11)).astype(np.float32)
    got = T.gradient_residual(torch.from_numpy(x), torch.from_numpy(r)).numpy()
    d = (x - r).astype(np.float64)
    ref = np.array([[sum(sobel(d[b, c], axis=a, mode="nearest") ** 2 for a in (0, 1))
                     for c in range(3)] for b in range(2)]).sum(1) / 64.0
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)


def test_gaussian_and_knn_distances_match_scipy() -> None:
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(2, 5, 3, 4)).astype(np.float32)
    e = emb.reshape(2, 5, 12).transpose(0, 2, 1).reshape(-1, 5)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + np.eye(5)
    mean = rng.normal(size=5)
    vi = np.linalg.inv(cov)
    wh = np.linalg.inv(np.linalg.cholesky(cov))  # wh.T @ wh = vi
    got = T.gaussian_distance(torch.from_numpy(emb), torch.tensor(mean).float(),
                              torch.tensor(wh).float()).numpy()
    ref = cdist(e, mean[None], "mahalanobis", VI=vi)[:, 0].reshape(2, 3, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    # per position: one mean and precision for each of the 12 positions
    means = rng.normal(size=(12, 5))
    got = T.gaussian_distance(torch.from_numpy(emb), torch.tensor(means).float(),
                              torch.tensor(np.stack([wh] * 12)).float()).numpy()
    pos = np.tile(np.arange(12), 2)
    ref = np.array([cdist(e[i:i + 1], means[pos[i]][None], "mahalanobis", VI=vi)[0, 0]
                    for i in range(24)]).reshape(2, 3, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    bank = rng.normal(size=(50, 5)).astype(np.float32)
    got = T.knn_distance(torch.from_numpy(emb), torch.from_numpy(bank)).numpy()
    ref = cdist(e, bank).min(1).reshape(2, 3, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["pooled", "position"])
def test_standardize_statistics(mode: str) -> None:
    rng = np.random.default_rng(2)
    maps = rng.gamma(2.0, size=(10, 6, 7))
    stats = standardize_stats(mode, [{"model": torch.from_numpy(maps[:4])},
                                     {"model": torch.from_numpy(maps[4:])}])
    if mode == "pooled":
        np.testing.assert_allclose(stats["mean_model"], maps.mean(), rtol=1e-5)
        np.testing.assert_allclose(stats["scale_model"], maps.std(), rtol=1e-5)
    else:
        np.testing.assert_allclose(stats["mean_model"], maps.mean(0), rtol=1e-5)
        ref = np.sqrt(maps.var(0) + 0.01 * maps.var())
        np.testing.assert_allclose(stats["scale_model"], ref, rtol=1e-5)
    post = PostProcess(standardize=mode)
    post.load_fitted(stats)
    got, _ = post(torch.from_numpy(maps[:, None]).float())
    want = (maps - stats["mean_model"].numpy()) / stats["scale_model"].numpy()
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_fit_gaussian_and_bank_from_normal_batches() -> None:
    model = _model()
    g = torch.Generator().manual_seed(3)
    xs = [torch.rand(4, 3, 32, 32, generator=g) for _ in range(3)]
    post = PostProcess(map_terms="gaussian+knn", knn_bank=100)  # pooled Gaussian
    rec = fit_postprocess(post, model, lambda: iter(xs), torch.device("cpu"), seed=0)
    with torch.no_grad():
        e = torch.cat([T.embed(model.features(x)) for x in xs]).double()
    flat = e.flatten(2).transpose(1, 2).reshape(-1, e.shape[1]).numpy()
    np.testing.assert_allclose(rec["state"]["gauss_mean"], flat.mean(0), rtol=1e-4, atol=1e-6)
    cov = np.cov(flat.T, bias=True)
    cov += 0.01 * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    wh = rec["state"]["gauss_whiten"].double().numpy()
    np.testing.assert_allclose(wh.T @ wh, np.linalg.inv(cov), rtol=1e-3,
                               atol=1e-4 * np.abs(np.linalg.inv(cov)).max())
    assert rec["state"]["bank"].shape == (100, e.shape[1])
    assert rec["fit_split"] == "train" and rec["num_inputs"] == 12
    # every bank row is a normal embedding: its own distance is 0
    d = T.knn_distance(torch.from_numpy(flat).float().T[None, :, :, None], rec["state"]["bank"])
    assert int((d[0, :, 0] < 1e-3).sum()) >= 100


def test_feature_terms_need_encoder_features(cli, tiny_mvtec, tmp_path) -> None:
    code, _, err = cli("train", "--data", tiny_mvtec, "--model", "patch_pca", "--out",
                       tmp_path / "r", "--quiet", "--set", "image_size=32",
                       "--set", "map_terms=model+knn")
    assert code == 2 and "model patch_pca has no encoder features" in err
    assert err.count("\n") == 1


def test_fitted_on_training_images_and_fixed_after_training(cli, tiny_mvtec, tmp_path) -> None:
    run = tmp_path / "r"
    code, _, err = cli("train", "--data", tiny_mvtec, "--model", "ae", "--out", run, "--quiet",
                       "--set", "epochs=1", "--set", "image_size=32", "--set", "batch_size=4",
                       "--set", "widths=[4,8,8,8]", "--set", "latent_dim=8",
                       "--set", "map_terms=model+ssim", "--set", "standardize=pooled")
    assert code == 0, err
    th = json.loads((run / "thresholds.json").read_text())
    assert th["postprocess"]["fit_split"] == "train"
    assert th["normal"]["split"] == "validation"
    r = Run(run)
    rec = r.postprocess_record()
    n_train = len(list((tiny_mvtec / "train" / "good").iterdir()))
    assert rec["num_inputs"] == n_train - th["normal"]["num_scores"]  # the held-out are not in
    # the fitted statistics equal those of the training part's maps, recomputed here
    from mmae.tasks import get_task

    cfg = r.config()
    task = get_task(cfg)
    train_part, _ = task.split(task.open("train", progress=False))
    model, _ = r.load_model("cpu")
    x = torch.stack([train_part[i]["image"] for i in range(len(train_part))])
    with torch.no_grad():
        raw = ((x - model(x).recon) ** 2).sum(1).double()
    np.testing.assert_allclose(rec["state"]["mean_model"], raw.mean(), rtol=1e-4)
    code, _, err = cli("test", "--run", run, "--quiet", "--set", "standardize=position")
    assert code == 2 and "fitted when training ends" in err
    code, _, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err


def test_ssim_residual_equals_one_minus_ssim_in_float64() -> None:
    from mmae.layers.ssim import ssim_anomaly_map

    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 24, 20, generator=g)
    for noise in (0.2, 1e-3):  # far and close reconstructions
        r = (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
        ref = ssim_anomaly_map(x.double(), r.double())[:, 0]
        got = T.ssim_residual(x, r).double()
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-3, atol=1e-9)
