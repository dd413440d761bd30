"""Encoder features at several input scales and the Gaussian's covariance regulariser."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import convolve
from scipy.spatial.distance import mahalanobis
from test_postprocess_terms import _model  # a tiny mmae with two scales

from mmae import create_model
from mmae.config import resolve_config
from mmae.errors import ConfigError
from mmae.scoring import terms as T
from mmae.scoring.fit import fit_postprocess
from mmae.scoring.postprocess import PostProcess
from mmae.tasks import get_task


def test_features_at_two_scales_add_the_second_encoders_first_block() -> None:
    model = _model()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        one = model.features(x)
        two = model.features(x, scales=2)
        # the second scale sees the input halved by 2x2 averaging (area resize)
        second = list(model.encoders[1])[0](F.avg_pool2d(x, 2))
    assert len(one) == 2 and len(two) == 3
    for a, b in zip(one, two[:2], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(two[2], second, rtol=0, atol=0)
    assert tuple(two[2].shape[-2:]) == (8, 8)
    for bad in (0, 3):
        with pytest.raises(ValueError, match="scales must be in 1..2"):
            model.features(x, scales=bad)


def test_models_with_one_scale_use_the_scales_they_have() -> None:
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    model = _model()
    with torch.no_grad():
        assert len(T.encoder_features(model, x, 5)) == 3  # mmae with two scales: both
        for name in ("ae", "vae", "ssim_ae"):
            torch.manual_seed(0)
            m = create_model(name, image_size=32, widths=[4, 8, 8, 8]).eval()
            got = T.encoder_features(m, x, 2)
            assert [tuple(f.shape) for f in got] == [tuple(f.shape) for f in m.features(x)]


def test_position_gaussian_with_two_scales_and_a_ridge() -> None:
    model = _model()
    g = torch.Generator().manual_seed(3)
    xs = [torch.rand(8, 3, 32, 32, generator=g) for _ in range(3)]
    ridge = 0.003
    post = PostProcess(map_terms="gaussian", feature_fit="position", feature_scales=2,
                       gaussian_ridge=ridge)
    rec = fit_postprocess(post, model, lambda: iter(xs), torch.device("cpu"))
    assert rec["settings"]["feature_scales"] == 2 and rec["settings"]["gaussian_ridge"] == ridge
    with torch.no_grad():
        feats = [model.features(x, scales=2) for x in xs]
    # embeddings recomputed here: 3x3 mean (edges: valid pixels only), bilinear to 16x16
    parts = []
    for i in range(3):
        f = torch.cat([fs[i] for fs in feats]).double().numpy()
        k = np.ones((3, 3))
        num = convolve(f, k[None, None], mode="constant")
        den = convolve(np.ones(f.shape[-2:]), k, mode="constant")
        f = torch.from_numpy(num / den)
        parts.append(F.interpolate(f, size=(16, 16), mode="bilinear", align_corners=False))
    # (24, 4 + 8 + 8, 16, 16): the second encoder's first block has 8 channels (its widths
    # are the last entries of the plan's)
    emb = torch.cat(parts, 1).numpy()
    assert emb.shape[1] == rec["state"]["gauss_mean"].shape[1] == 20
    means, whiten = rec["state"]["gauss_mean"].double(), rec["state"]["gauss_whiten"].double()
    x_test = torch.rand(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        got = post.term_maps(model, x_test, model(x_test))["gaussian"]
        e_test = T.embed(model.features(x_test, scales=2)).double().numpy()
    for p in (0, 17, 255):  # corner, edge-adjacent and the last position
        i, j = divmod(p, 16)
        s = emb[:, :, i, j]
        cov = np.cov(s.T, bias=True)
        cov += ridge * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
        np.testing.assert_allclose(means[p].numpy(), s.mean(0), rtol=1e-4, atol=1e-6)
        w = whiten[p].numpy()
        inv = np.linalg.inv(cov)
        np.testing.assert_allclose(w.T @ w, inv, rtol=1e-3, atol=1e-4 * np.abs(inv).max())
        d = mahalanobis(e_test[0, :, i, j], s.mean(0), inv)
        # the 16x16 distance map upsampled to 32x32 (bilinear, half-pixel centres)
        small = T.gaussian_distance(torch.from_numpy(e_test).float(), means.float(),
                                    whiten.float())
        np.testing.assert_allclose(small[0, i, j].item(), d, rtol=1e-3)
    big = F.interpolate(small[:, None], size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(got, big[:, 0], rtol=1e-5, atol=1e-5)


def test_a_smaller_ridge_trusts_the_covariance_more() -> None:
    model = _model()
    g = torch.Generator().manual_seed(4)
    xs = [torch.rand(8, 3, 32, 32, generator=g) for _ in range(2)]
    recs = {r: fit_postprocess(PostProcess(map_terms="gaussian", gaussian_ridge=r), model,
                               lambda: iter(xs), torch.device("cpu"))
            for r in (0.001, 0.01, 1.0)}
    # the precision's trace falls as the ridge grows (more variance on every axis)
    traces = [float((recs[r]["state"]["gauss_whiten"].double() ** 2).sum()) for r in recs]
    assert traces[0] > traces[1] > traces[2]


@pytest.mark.parametrize(("key", "value", "message"),
                         [("gaussian_ridge", 0, "must be > 0"),
                          ("gaussian_ridge", -0.1, "must be > 0"),
                          ("feature_scales", 0, "positive integer"),
                          ("feature_scales", 1.5, "integer")])
def test_bad_settings_are_named(key: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}.*{message}"):
        resolve_config("mmae", "cpu", {key: value})


def test_cpu_preset_scores_mmae_at_two_scales() -> None:
    cfg = resolve_config("mmae", "cpu")
    post = PostProcess.from_config(cfg)
    assert (post.terms, post.feature_fit, post.feature_scales, post.gaussian_ridge) == (
        ("gaussian",), "position", 2, 0.003)
    for name in ("memae", "ae"):  # one scale, the default regulariser
        post = PostProcess.from_config(resolve_config(name, "cpu"))
        assert (post.feature_scales, post.gaussian_ridge) == (1, 0.01)
    paper = PostProcess.from_config(resolve_config("mmae", "paper"))
    assert (paper.terms, paper.feature_scales) == (("model",), 1)


def test_records_fitted_before_the_settings_existed_still_load() -> None:
    model = _model()
    cfg = resolve_config("mmae", "cpu", {"image_size": 32, "feature_scales": 1,
                                         "gaussian_ridge": 0.01})
    post = PostProcess.from_config(cfg)
    xs = [torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))]
    rec = fit_postprocess(post, model, lambda: iter(xs), torch.device("cpu"))
    old = {**rec, "settings": {k: v for k, v in rec["settings"].items()
                               if k not in ("feature_scales", "gaussian_ridge")}}
    task = get_task(cfg)
    task.post_record = old
    assert task.post().fitted_keys == ("gauss_mean", "gauss_whiten")
    task.cfg = resolve_config("mmae", "cpu", {"image_size": 32})  # two scales: not fitted
    with pytest.raises(ConfigError, match="fitted when training ends"):
        task.post()
