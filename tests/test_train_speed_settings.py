"""``compile`` and ``channels_last`` train to the same losses as the plain step (CPU).

Tolerance: relative 1e-4 on every loss over the steps compared. Channels-last convolutions and
compiled (fused) kernels add in another order, so float32 rounding differs; 1e-4 is ample for
that and far below any real change (a wrong layout or a missing term moves a loss by > 1e-2).
"""

from __future__ import annotations

import pytest
import torch

from mmae.config import resolve_config
from mmae.device import Runtime
from mmae.errors import ConfigError
from mmae.models.registry import create_model
from mmae.training.seed import seed_everything
from mmae.training.step import TrainStep, compile_mode, make_optimizer, uses_channels_last

RTOL = 1e-4
CPU = Runtime(torch.device("cpu"), None)


def _losses(model_name: str, steps: int = 3, **settings: str) -> list[float]:
    seed_everything(0)
    kwargs = {"image_size": 32, "in_channels": 3}
    if model_name == "mmae":
        kwargs.update(num_scales=2, latent_dim=16, memory_size=8, widths=[8, 8, 8])
    else:  # a small graph: torch.compile's time grows with the layers
        kwargs.update(latent_dim=16, widths=[8, 8])
    model = create_model(model_name, **kwargs)
    opt = make_optimizer(model, 1e-3, 1e-5, CPU.device)
    step = TrainStep(model, model, opt, CPU, grad_clip=1.0, **settings)
    model.train()
    g = torch.Generator().manual_seed(1)
    batches = [torch.rand(4, 3, 32, 32, generator=g) for _ in range(steps)]
    return [float(step(step.prepare(x))["loss"].detach()) for x in batches]


def test_channels_last_trains_to_the_same_losses() -> None:
    plain = _losses("mmae")
    cl = _losses("mmae", channels_last="on")
    assert plain[0] != plain[-1]  # the weights moved
    assert cl == pytest.approx(plain, rel=RTOL)


def test_channels_last_applies_to_2d_models_only() -> None:
    assert uses_channels_last("on", create_model("ae", image_size=32))
    assert not uses_channels_last("off", create_model("ae", image_size=32))
    assert not uses_channels_last("on", create_model("ae3d", image_size=32, clip_length=8))


def test_settings_accept_on_off_and_modes() -> None:
    cfg = resolve_config("mmae", "cpu", {"compile": True, "channels_last": "on",
                                         "save_every_s": 30, "save_every": 0})
    assert (cfg.compile, cfg.channels_last, cfg.save_every_s, cfg.save_every) == (
        "on", "on", 30.0, 0)
    assert resolve_config("mmae", "cpu", {"compile": False}).compile == "off"
    assert compile_mode("on") == "default" and compile_mode("off") is None
    assert compile_mode("max-autotune") == "max-autotune"
    defaults = resolve_config("mmae", "cpu")
    assert (defaults.compile, defaults.channels_last, defaults.save_every_s,
            defaults.save_every) == ("off", "off", 600.0, 0)
    for bad in ({"compile": "fast"}, {"save_every_s": -1}, {"save_every": 1.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            resolve_config("mmae", "cpu", bad)


@pytest.mark.slow
def test_compile_trains_to_the_same_losses() -> None:
    plain = _losses("ae", steps=2)
    compiled = _losses("ae", steps=2, compile="on")
    assert plain[0] != plain[-1]
    assert compiled == pytest.approx(plain, rel=RTOL)


def test_channels_last_in_the_training_loop(tmp_path, tiny_mvtec) -> None:
    import json

    from mmae.config import parse_set
    from mmae.training.train import train

    logs = {}
    for setting in ("off", "on"):
        cfg = resolve_config("mmae", "cpu", parse_set([
            "epochs=2", "image_size=32", "batch_size=4", "num_scales=2", "latent_dim=16",
            "memory_size=8", "widths=[8,8,8]", f"channels_last={setting}"]), data=str(tiny_mvtec))
        run = tmp_path / setting
        run.mkdir()
        train(cfg, run, progress=False)
        logs[setting] = [json.loads(x)["loss"] for x in (run / "train_log.jsonl").read_text()
                         .splitlines()]
    assert len(logs["on"]) == 2 and logs["off"][0] != logs["off"][1]
    assert logs["on"] == pytest.approx(logs["off"], rel=RTOL)
