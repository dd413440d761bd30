"""The vae and ssim_ae baselines: a few training steps, maps and scores, SSIM vs scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmae.errors import ConfigError
from mmae.layers import ssim_anomaly_map, ssim_map
from mmae.models import create_model, list_models

SMALL = dict(image_size=32, widths=(8, 16, 16), latent_dim=16)


@pytest.mark.parametrize("name", ["vae", "ssim_ae"])
@pytest.mark.parametrize("channels", [1, 3])
def test_trains_and_scores(name: str, channels: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_channels=channels, **SMALL)
    assert model.kind == "image" and model.in_channels == channels
    assert name in list_models("image")
    x = torch.rand(4, channels, 32, 32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(5):
        out = model(x)
        assert out.recon.shape == x.shape
        assert out.anomaly_map is None and out.pred_score is None
        parts = model.loss(x, out)
        assert set(parts) >= {"loss", "mse"}
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        losses.append(float(parts["loss"].detach()))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.anomaly_map.shape == (4, 1, 32, 32)
    assert out.pred_score.shape == (4,)
    assert torch.equal(out.pred_score, out.anomaly_map.flatten(1).amax(1))
    assert (out.anomaly_map >= -1e-6).all()


def test_vae_extras_and_eval_uses_mean() -> None:
    torch.manual_seed(0)
    model = create_model("vae", in_channels=1, beta=2.0, **SMALL)
    x = torch.rand(3, 1, 32, 32)
    model.train()
    out = model(x)
    assert out.extras["mu"].shape == (3, 16) and out.extras["logvar"].shape == (3, 16)
    parts = model.loss(x, out)
    assert torch.allclose(parts["loss"], parts["mse"] + 2.0 * parts["kl"])
    assert parts["kl"] >= 0
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)  # deterministic: decodes the mean
        recon_mu = model.decoder(model.encode(x)[0])
    assert torch.equal(a.recon, b.recon) and torch.allclose(a.recon, recon_mu)
    assert torch.allclose(a.anomaly_map, ((x - a.recon) ** 2).sum(1, keepdim=True))


def test_ssim_ae_map_is_one_minus_channel_mean_ssim() -> None:
    torch.manual_seed(0)
    model = create_model("ssim_ae", in_channels=3, **SMALL).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    expected = 1 - ssim_map(x, out.recon).mean(1, keepdim=True)
    assert torch.allclose(out.anomaly_map, expected)


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="window_size"):
        create_model("ssim_ae", window_size=10, **SMALL)
    with pytest.raises(ConfigError, match="beta"):
        create_model("vae", beta=-1.0, **SMALL)
    with pytest.raises(ConfigError, match="no setting"):
        create_model("vae", memory_size=3, **SMALL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_map_matches_scikit_image(seed: int) -> None:
    """Against skimage on random float64 images. Interior pixels (5 px, the window radius, from
    the border) do not depend on the padding rule; they agree to float64 round-off (1e-12
    allows for the different summation order of a separable vs. scipy's filter). Our padding is
    scipy's ``reflect``, the one skimage uses, so the border agrees too."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(seed)
    a = rng.random((3, 41, 37))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1) if seed else rng.random(a.shape)
    maps = []
    for c in range(3):
        _, full = structural_similarity(a[c], b[c], gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0, full=True)
        maps.append(full)
    ref = np.stack(maps)
    ours = ssim_map(torch.from_numpy(a)[None], torch.from_numpy(b)[None]).numpy()[0]
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours[:, 5:-5, 5:-5], ref[:, 5:-5, 5:-5], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    mean_ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, channel_axis=0,
                                     use_sample_covariance=False, data_range=1.0)
    # skimage's mean crops the 5-px border; the channel-mean map agrees with it there.
    amap = ssim_anomaly_map(torch.from_numpy(a)[None], torch.from_numpy(b)[None])[0, 0].numpy()
    assert abs((1 - amap)[5:-5, 5:-5].mean() - mean_ref) < 1e-12


def test_ssim_float32_tolerance() -> None:
    """In float32 (the training dtype) the map is within 1e-5 of skimage's float64 one: the
    variances are differences of O(1) moments, so float32 round-off (~1e-7) is amplified by
    the small denominators (C2 = 9e-4) to at most ~1e-5."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(7)
    a, b = rng.random((64, 64)), rng.random((64, 64))
    _, ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, data_range=1.0, full=True)
    ours = ssim_map(torch.tensor(a, dtype=torch.float32)[None, None],
                    torch.tensor(b, dtype=torch.float32)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours[5:-5, 5:-5], ref[5:-5, 5:-5], rtol=0, atol=1e-5)
