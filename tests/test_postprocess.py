"""The post-processing module against independent references (scipy, numpy, OpenCV) and the
video clip error against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from mmae.config import resolve_config
from mmae.metrics import resize_map_to_mask
from mmae.scoring.postprocess import PostProcess


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3, 4.0])
def test_smoothing_matches_scipy(sigma):
    rng = np.random.default_rng(0)
    maps = rng.random((3, 37, 29)).astype(np.float32)
    got = PostProcess("image", sigma).smooth(torch.from_numpy(maps)).numpy()
    ref = np.stack([gaussian_filter(m, sigma, mode="nearest", truncate=4.0) for m in maps])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


def test_reductions_match_numpy():
    rng = np.random.default_rng(1)
    maps = rng.random((4, 20, 20)).astype(np.float32)
    t = torch.from_numpy(maps)
    np.testing.assert_allclose(PostProcess(score_reduce="max").reduce(t), maps.max((1, 2)))
    np.testing.assert_allclose(PostProcess(score_reduce="mean").reduce(t), maps.mean((1, 2)),
                               rtol=1e-6)
    top = PostProcess(score_reduce="topk_mean", score_topk=0.05).reduce(t).numpy()
    k = round(0.05 * 400)  # 20 pixels
    ref = np.sort(maps.reshape(4, -1), axis=1)[:, -k:].mean(1)
    np.testing.assert_allclose(top, ref, rtol=1e-6)


def test_forward_smooths_then_reduces():
    raw = torch.zeros(1, 1, 16, 16)
    raw[0, 0, 8, 8] = 1.0
    maps, scores = PostProcess("image", 1.0)(raw)
    ref = gaussian_filter(raw[0, 0].numpy(), 1.0, mode="nearest", truncate=4.0)
    np.testing.assert_allclose(maps[0].numpy(), ref, atol=1e-7)
    assert scores.item() == pytest.approx(ref.max(), rel=1e-6)


@pytest.mark.parametrize("size", [(64, 48), (10, 13), (32, 32)])
def test_resize_matches_opencv_bilinear(size):
    m = np.random.default_rng(2).random((32, 32)).astype(np.float32)
    got = PostProcess.resize(torch.from_numpy(m)[None], size)[0].numpy()
    np.testing.assert_allclose(got, resize_map_to_mask(m, size), atol=1e-5)


def test_clip_error_against_hand_computation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 5, 6))  # (B, C, T, H, W): channel axis 1
    recon = rng.normal(size=x.shape)
    residual = x - recon
    raw = torch.from_numpy((residual ** 2).sum(1, keepdims=True))  # the models' raw map
    # squared: mean over T*H*W of the squared l2 norm over channels
    squared = [sum(residual[b, c, t, i, j] ** 2 for c in range(3))
               for b in range(2) for t in range(4) for i in range(5) for j in range(6)]
    squared = np.asarray(squared).reshape(2, -1).mean(1)
    # l2norm (MemAE): mean over T*H*W of the per-pixel l2 norm over channels
    l2 = np.sqrt(np.asarray([sum(residual[b, c, t, i, j] ** 2 for c in range(3))
                             for b in range(2) for t in range(4) for i in range(5)
                             for j in range(6)])).reshape(2, -1).mean(1)
    _, got_sq = PostProcess("video", clip_error="squared")(raw)
    _, got_l2 = PostProcess("video", clip_error="l2norm")(raw)
    np.testing.assert_allclose(got_sq.numpy(), squared, rtol=1e-6)
    np.testing.assert_allclose(got_l2.numpy(), l2, rtol=1e-6)
    # one channel (the video models): l2norm is the mean absolute error
    one = torch.from_numpy(residual[:, :1] ** 2)
    _, mae = PostProcess("video", clip_error="l2norm")(one)
    np.testing.assert_allclose(mae.numpy(), np.abs(residual[:, 0]).reshape(2, -1).mean(1),
                               rtol=1e-6)


def test_config_builds_the_module():
    post = PostProcess.from_config(resolve_config("mmae3d", "paper"))
    assert (post.kind, post.clip_error) == ("video", "l2norm")
    post = PostProcess.from_config(resolve_config("mmae", "cpu"))
    assert (post.kind, post.sigma, post.score_reduce) == ("image", 1.0, "max")
    assert (post.terms, post.feature_fit, post.needs_fit) == (("gaussian",), "position", True)
    post = PostProcess.from_config(resolve_config("patch_pca", "cpu"))
    assert (post.terms, post.standardize) == (("model", "ssim", "gradient"), "position")
    for model in ("mmae", "mmae3d"):  # the paper's scoring: the model's map, its maximum
        post = PostProcess.from_config(resolve_config(model, "paper"))
        assert (post.terms, post.standardize, post.score_reduce, post.clip_reduce) == (
            ("model",), "none", "max", "mean")
    with pytest.raises(ValueError, match="clip_error"):
        PostProcess("video", clip_error="l1")
