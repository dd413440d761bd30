"""The ``init`` model setting: MemAE's weight initialisation (conv N(0, 0.02), BN N(1, 0.02))."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmae.errors import ConfigError
from mmae.layers import init_weights
from mmae.models import create_model
from mmae.models.mmae import MMAE

SMALL_3D = dict(image_size=32, clip_length=8, temporal_depth=2, widths=(8, 8, 16, 16),
                memory_size=20)
CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)
NORMS = (nn.BatchNorm2d, nn.BatchNorm3d)


def _build(name: str, init: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, init=init, **SMALL_3D)


def _gather(model: nn.Module, kinds: tuple, attr: str) -> torch.Tensor:
    return torch.cat([getattr(m, attr).detach().flatten() for m in model.modules()
                      if isinstance(m, kinds)])


def _check_normal(values: torch.Tensor, mean: float, std: float) -> None:
    """Sample mean and std within 5 standard errors (SE of the std: std / sqrt(2 n))."""
    n = values.numel()
    assert abs(float(values.mean()) - mean) < 5 * std / math.sqrt(n)
    assert abs(float(values.std()) - std) < 5 * std / math.sqrt(2 * n)


@pytest.mark.parametrize("name", ["memae3d", "mmae3d", "ae3d"])
def test_memae_init_statistics(name: str) -> None:
    model = _build(name, "memae")
    conv_w = _gather(model, CONVS, "weight")
    assert conv_w.numel() > 10_000
    _check_normal(conv_w, 0.0, 0.02)
    bn_w, bn_b = _gather(model, NORMS, "weight"), _gather(model, NORMS, "bias")
    assert bn_w.numel() > 50
    _check_normal(bn_w, 1.0, 0.02)
    assert torch.equal(bn_b, torch.zeros_like(bn_b))


def test_memae_init_on_image_models() -> None:
    torch.manual_seed(0)
    model = create_model("mmae", image_size=64, widths=(8, 16, 16, 16), memory_size=10,
                         num_scales=3, init="memae")
    _check_normal(_gather(model, CONVS, "weight"), 0.0, 0.02)


def test_memae_init_changes_only_conv_and_norm_weights() -> None:
    """Same seed: only conv and BatchNorm weights differ (BN biases are 0 under both)."""
    default, memae = _build("memae3d", "default"), _build("memae3d", "memae")
    redrawn = {f"{name}.weight" for name, mod in default.named_modules()
               if isinstance(mod, CONVS + NORMS)}
    a, b = default.state_dict(), memae.state_dict()
    assert redrawn and redrawn < set(a)
    for key in a:
        assert torch.equal(a[key], b[key]) != (key in redrawn), key
    # PyTorch's default conv init is not N(0, 0.02): the first layer (fan-in 27) is far wider
    first = next(m for m in default.modules() if isinstance(m, nn.Conv3d))
    assert float(first.weight.detach().std()) > 0.05


def test_default_init_is_pytorch_init() -> None:
    a = _build("mmae3d", "default", seed=3)
    torch.manual_seed(3)
    b = create_model("mmae3d", **SMALL_3D)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_bad_init_value() -> None:
    """The layer function and the model raise ValueError; ``create_model`` a ConfigError."""
    with pytest.raises(ConfigError, match=r"^model 'memae3d': init='xavier'.*default, memae, he$") \
            as err:
        create_model("memae3d", init="xavier", **SMALL_3D)
    assert "\n" not in str(err.value)
    for build in (lambda: init_weights(nn.Conv2d(1, 1, 3), "xavier"),
                  lambda: MMAE(dims=3, init="xavier", **SMALL_3D)):
        with pytest.raises(ValueError, match=r"init='xavier'.*default, memae") as raw:
            build()
        assert not isinstance(raw.value, ConfigError)


def test_paper_preset_uses_memae_init(cli) -> None:
    for model in ("mmae3d", "memae3d"):
        code, out, err = cli("train", "--help-settings", "--model", model, "--preset", "paper")
        assert code == 0, err
        assert "  init = 'memae'" in out.splitlines()
        assert "  frame_rule = 'center'" in out.splitlines()
    code, out, _ = cli("train", "--help-settings", "--model", "mmae3d", "--preset", "cpu")
    assert "  init = 'default'" in out.splitlines()
