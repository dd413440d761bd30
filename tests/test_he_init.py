"""The ``init: he`` setting: He-initialised layers, unit-variance slots, unstarved encoders."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmae.errors import ConfigError
from mmae.layers.memory import MemoryModule
from mmae.models import create_model

# A small stand-in for the paper's image settings (vector latent, K=3, cosine at temperature 1).
PAPERLIKE = dict(image_size=64, num_scales=3, latent="vector", latent_dim=256, memory_size=60,
                 widths=(16, 32, 64, 64))


def _model(init: str) -> nn.Module:
    torch.manual_seed(0)
    return create_model("mmae", init=init, **PAPERLIKE)


def test_he_layers_and_slots() -> None:
    model = _model("he")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers:
        fan_in = layer.weight[0].numel()
        expected = math.sqrt(2.0 / (1 + 0.2**2) / fan_in)
        assert layer.weight.std().item() == pytest.approx(expected, rel=0.25)
    output = [m for m in model.decoder.modules() if isinstance(m, nn.Conv2d)][-1]
    assert torch.equal(output.bias, torch.full_like(output.bias, 0.5))  # mid-grey output
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers if m is not output)
    # video clips in [-1, 1]: the output bias is the middle, 0
    clip = create_model("mmae3d", init="he", image_size=32, clip_length=8, temporal_depth=2,
                        widths=(8, 8, 16, 16), memory_size=20, latent_dim=16, num_scales=2)
    last = [m for m in clip.decoder.modules() if isinstance(m, nn.ConvTranspose3d)][-1]
    assert torch.count_nonzero(last.bias) == 0
    for memory in model.memories:
        assert isinstance(memory, MemoryModule)
        assert memory.memory.abs().max() <= math.sqrt(3.0)
        assert memory.memory.var().item() == pytest.approx(1.0, rel=0.1)


def _encoder_grad(model: nn.Module) -> float:
    torch.manual_seed(1)
    x = torch.rand(4, 3, 64, 64)
    model.train()
    out = model(x)
    torch.nn.functional.mse_loss(out.recon, x).backward()
    grads = [p.grad.abs().flatten() for p in model.encoders.parameters()]
    return torch.cat(grads).mean().item()


def test_he_feeds_the_encoders() -> None:
    # With PyTorch's default layers and MemAE's slots the reconstruction gradient reaching the
    # encoders is orders of magnitude below Adam's eps (1e-8); ``he`` lifts it above.
    default, he = _encoder_grad(_model("default")), _encoder_grad(_model("he"))
    assert default < 1e-8 < he
    assert he > 100 * default


def test_bad_init() -> None:
    with pytest.raises(ConfigError, match="init"):
        create_model("mmae", init="xavier", **PAPERLIKE)
