"""Video prediction streams frames in bounded memory and gives `mmae test`'s frame scores."""

from __future__ import annotations

import numpy as np
import pytest

from mmae._version import __version__
from mmae.config import resolve_config
from mmae.data.video import open_video_dataset
from mmae.inference.inferencer import Inferencer
from mmae.models.registry import create_model
from mmae.runs.run import Run
from mmae.tasks import get_task

SMALL = {"image_size": 32, "clip_length": 8, "widths": [4, 4, 8, 8], "memory_size": 10,
         "test_clip_stride": 1}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from mmae.data.synth.video import generate_synthetic_video

    return generate_synthetic_video(tmp_path_factory.mktemp("iv") / "v", seed=1,
                                    frame_size=(40, 50), num_train=1, num_test=1,
                                    train_frames=20, test_frames=29)


def _run(tmp_path, data, **sets):
    """A run folder holding an untrained memae3d (the scores need not be good, only equal)."""
    cfg = resolve_config("memae3d", "cpu", {**SMALL, **sets}, data=str(data))
    cfg.channels = 1
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.save_config(cfg)
    model = create_model(cfg.model, **cfg.model_kwargs())
    run.save_checkpoint({"model": model.state_dict(), "epoch": 0, "mmae_version": __version__})
    return run


@pytest.mark.parametrize("sets", [{"frame_rule": "mean"}, {"frame_rule": "center"},
                                  {"frame_rule": "mean", "test_clip_stride": 3},
                                  {"frame_rule": "center", "clip_error": "l2norm"}])
def test_stream_equals_test_scores_in_bounded_memory(tmp_path, video, sets):
    run = _run(tmp_path, video, **sets)
    inf = Inferencer.load(run, device="cpu")
    native = open_video_dataset(video, "test").frames(0)  # 40x50, resized by predict_frames
    consumed = []

    def frames():
        for i, f in enumerate(native):
            consumed.append(i)
            yield np.repeat(f[..., None], 3, axis=2)  # RGB input works too

    stream = inf.predict_frames(frames(), batch_size=2)
    first = next(stream)
    assert first[0] == 0
    # the first score comes after at most one clip plus one batch of clip starts
    stride = inf.config.test_clip_stride
    assert len(consumed) <= inf.config.clip_length + 2 * stride
    got = [first, *stream]
    assert [t for t, _ in got] == list(range(len(native)))
    task = get_task(inf.config)
    ref = task.frame_scores(inf.model, task.open("test"), inf.device)[0].scores
    s = np.array([v for _, v in got])
    np.testing.assert_array_equal(np.isnan(s), np.isnan(ref))
    np.testing.assert_allclose(s[~np.isnan(s)], ref[~np.isnan(ref)], rtol=1e-6)
    if sets["frame_rule"] == "center":  # MemAE: first clip_length // 2 and last 3 frames
        assert np.isnan(s[:4]).all() and np.isnan(s[-3:]).all() and not np.isnan(s[4:-3]).any()


def test_short_video_gives_nan_and_image_runs_refuse_frames(tmp_path, video):
    run = _run(tmp_path, video)
    inf = Inferencer.load(run, device="cpu")
    out = list(inf.predict_frames(np.zeros((5, 20, 20), np.uint8)))
    assert [t for t, _ in out] == [0, 1, 2, 3, 4] and all(np.isnan(v) for _, v in out)
    with pytest.raises(Exception, match="video model; predict_images works with image models only"):
        inf.predict_images([np.zeros((8, 8), np.uint8)])
