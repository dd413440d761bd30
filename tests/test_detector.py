"""The scikit-learn style Detector: clone-able, fit returns self, threshold_, decision_function,
score_samples, predict, fit_predict, decision_scores_; arrays, lists, paths and folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone

import mmae
from mmae.errors import ConfigError

# map_terms=model: the model's own map (the fitted terms go through the Detector in
# tests/test_contract.py::test_fitted_postprocess_contract)
SETTINGS = dict(epochs=25, image_size=32, num_scales=2, latent_dim=64, latent="spatial",
                batch_size=8, widths=[8, 16, 16], seed=0, map_terms="model")


def _images(rng, n, defect=False, size=40):
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        a, b = rng.uniform(0.2, 0.8, 2)
        img = 0.5 * (a * xx + b * yy) + 0.2
        if defect:
            y, x = rng.integers(4, size - 14, 2)
            img[y : y + 10, x : x + 10] = 1.0
        out.append(np.repeat(img[..., None], 3, axis=2).astype(np.float32))
    return np.stack(out)


def test_fit_score_predict_on_arrays(tmp_path):
    rng = np.random.default_rng(0)
    det = mmae.Detector("mmae", run_dir=tmp_path / "run", settings=SETTINGS)
    with pytest.raises(ConfigError, match="not fitted"):
        det.predict(_images(rng, 1))
    train_images = _images(rng, 48)
    assert det.fit(train_images) is det
    assert det.threshold_ is not None and det.threshold_ > 0
    assert det.decision_scores_.shape == (48,)
    # training scores are the scores of the same images through decision_function
    np.testing.assert_allclose(det.decision_function(train_images), det.decision_scores_,
                               rtol=1e-5)
    good, bad = _images(rng, 10), _images(rng, 10, defect=True)
    s_good, s_bad = det.decision_function(good), det.decision_function(bad)
    assert s_good.shape == s_bad.shape == (10,)
    assert s_bad.min() > np.median(s_good)  # higher means more anomalous
    np.testing.assert_array_equal(det.score_samples(bad), s_bad)
    pred = det.predict(np.concatenate([good, bad]))
    assert set(np.unique(pred)) <= {0, 1} and pred[10:].mean() > pred[:10].mean()
    maps = det.anomaly_maps(list(bad[:2]) + [good[0][:20, :30]])  # sizes may differ
    assert [m.shape for m in maps] == [(40, 40), (40, 40), (20, 30)]
    # one image alone is one image, not a stack of rows
    assert det.decision_function(bad[0]).shape == (1,)
    # the run folder is a normal run: reopen it
    again = mmae.Detector.load(tmp_path / "run")
    assert np.allclose(again.decision_function(bad), s_bad)
    assert again.threshold_ == det.threshold_
    # a list of image paths gives the scores of the arrays (uint8 PNG round trip)
    u8 = (np.clip(bad[:3], 0, 1) * 255 + 0.5).astype(np.uint8)
    paths = []
    for i, im in enumerate(u8):
        paths.append(tmp_path / f"b{i}.png")
        Image.fromarray(im).save(paths[-1])
    np.testing.assert_allclose(again.decision_function([str(p) for p in paths]),
                               again.decision_function(list(u8)), rtol=1e-6)
    fixed = mmae.Detector.load(tmp_path / "run", threshold=123.0)
    assert fixed.threshold_ == 123.0 and not fixed.predict(bad).any()


def test_clone_and_fit_predict(tmp_path, tiny_mvtec):
    det = mmae.Detector("ae", settings=dict(epochs=1, image_size=32, latent_dim=16),
                        threshold_rule="normal")
    twin = clone(det)
    assert twin is not det and twin.get_params() == det.get_params()
    labels = twin.fit_predict(tiny_mvtec)  # a folder: its training split
    assert labels.shape == twin.decision_scores_.shape == (12,)
    assert set(np.unique(labels)) <= {0, 1}
    assert labels.mean() <= 0.5  # mostly normal at a 1 % false-positive threshold
    scores = twin.decision_function(tiny_mvtec / "test" / "spot")
    assert scores.shape == (6,) and np.isfinite(scores).all()


def test_detector_refuses_video_models():
    with pytest.raises(ConfigError, match="video model"):
        mmae.Detector("mmae3d").fit(np.zeros((2, 8, 8), np.uint8))


def test_in_memory_images_batch_like_a_dataloader() -> None:
    """The training loop's whole-batch path gives exactly the DataLoader's collated batch."""
    from torch.utils.data import default_collate

    from mmae.data.in_memory import InMemoryImages

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(5)]
    ds = InMemoryImages.resized(images, 16, 3)
    fast, slow = ds.get_batch([3, 1, 4]), default_collate([ds[i] for i in (3, 1, 4)])
    assert fast.keys() == slow.keys()
    assert all(torch.equal(fast[k], slow[k]) for k in fast)
