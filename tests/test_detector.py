"""The scikit-learn style Detector: fit returns self, threshold_, decision_function, predict."""

from __future__ import annotations

import numpy as np
import pytest

import mmae
from mmae.errors import ConfigError

SETTINGS = dict(epochs=25, image_size=32, num_scales=2, latent_dim=64, latent="spatial",
                batch_size=8, widths=[8, 16, 16])


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
    det = mmae.Detector("mmae", run_dir=tmp_path / "run", seed=0, **SETTINGS)
    with pytest.raises(ConfigError, match="not fitted"):
        det.predict(_images(rng, 1))
    assert det.fit(_images(rng, 48)) is det
    assert det.threshold_ is not None and det.threshold_ > 0
    good, bad = _images(rng, 10), _images(rng, 10, defect=True)
    s_good, s_bad = det.decision_function(good), det.decision_function(bad)
    assert s_good.shape == s_bad.shape == (10,)
    assert s_bad.min() > np.median(s_good)  # higher means more anomalous
    pred = det.predict(np.concatenate([good, bad]))
    assert set(np.unique(pred)) <= {0, 1} and pred[10:].mean() > pred[:10].mean()
    maps = det.anomaly_maps(list(bad[:2]) + [good[0][:20, :30]])  # sizes may differ
    assert [m.shape for m in maps] == [(40, 40), (40, 40), (20, 30)]
    # the run folder is a normal run: reopen it
    again = mmae.Detector.load(tmp_path / "run")
    assert np.allclose(again.decision_function(bad), s_bad)
    assert again.threshold_ == det.threshold_


def test_fit_on_a_folder(tiny_mvtec):
    det = mmae.Detector("ae", epochs=1, image_size=32, latent_dim=16).fit(tiny_mvtec)
    scores = det.decision_function(tiny_mvtec / "test" / "spot")
    assert scores.shape == (6,) and np.isfinite(scores).all()
