"""The MMAE model family (2D and 3D), its blocks and the factory."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmae.errors import ConfigError
from mmae.layers import PixelShuffleND, UpBlock, build_fuser, resize
from mmae.layers.hybrid import HybridMemory
from mmae.models import ModelOutput, create_model, list_models
from mmae.models.mmae import MMAE
from mmae.models.registry import model_arguments

IMAGE_NAMES = ("mmae", "memae", "ae")
VIDEO_NAMES = ("mmae3d", "memae3d", "ae3d")
# Tiny CPU settings: 64 px images reach a 4 px latent grid; K=5 is 64,32,16,8,4 px.
SMALL_2D = dict(image_size=64, widths=(8, 16, 16, 16), memory_size=10)
SMALL_3D = dict(image_size=32, clip_length=8, temporal_depth=2, widths=(8, 8, 16, 16),
                memory_size=20)


def _small(name: str, **kw) -> MMAE:
    base = SMALL_3D if name.endswith("3d") else SMALL_2D
    torch.manual_seed(0)
    return create_model(name, **{**base, **kw})


def _input(model: MMAE, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.rand(batch, *model.input_shape)
    return x * 2 - 1 if model.kind == "video" else x


def _train_step(model: MMAE) -> tuple[ModelOutput, dict[str, torch.Tensor]]:
    model.train()
    x = _input(model)
    out = model(x)
    losses = model.loss(x, out)
    losses["loss"].backward()
    assert out.recon.shape == x.shape
    assert out.anomaly_map is None and out.pred_score is None
    assert torch.isfinite(losses["loss"])
    return out, losses


def _check_memory_grads(model: MMAE, num_scales: int) -> None:
    assert len(model.memories) == num_scales
    for memory in model.memories:
        assert memory.memory.grad is not None
        assert memory.memory.grad.abs().sum() > 0


def test_list_models() -> None:
    names = list_models()
    assert set(IMAGE_NAMES + VIDEO_NAMES) <= set(names)
    assert set(IMAGE_NAMES) <= set(list_models("image"))
    assert set(VIDEO_NAMES) <= set(list_models("video"))
    assert not set(VIDEO_NAMES) & set(list_models("image"))


def test_registered_defaults() -> None:
    args = model_arguments("mmae")
    paper = dict(in_channels=3, image_size=256, num_scales=5, gamma=0.5, memory_size=60,
                 latent_dim=1024, latent="vector", entropy_weight=0.0002, fuser="sk")
    assert {k: args[k] for k in paper} == paper
    assert model_arguments("memae")["num_scales"] == 1
    assert model_arguments("ae")["use_memory"] is False
    video = model_arguments("memae3d")
    assert video["memory_size"] == 2000 and video["shrink_threshold"] == 0.0025
    assert video["similarity"] == "dot" and video["clip_length"] == 16
    assert model_arguments("mmae3d")["num_scales"] == 4


@pytest.mark.parametrize("latent", ["vector", "spatial"])
@pytest.mark.parametrize("num_scales", [1, 3, 5])
def test_mmae_forward_backward(num_scales: int, latent: str) -> None:
    model = _small("mmae", num_scales=num_scales, latent=latent, latent_dim=16)
    out, losses = _train_step(model)
    assert set(losses) == {"loss", "mse", "entropy"}
    assert len(out.attentions) == num_scales
    grid = (4, 4) if latent == "spatial" else ()
    for att in out.attentions:
        assert att.shape == (2, 10, *grid)
    assert out.extras["zero_row_fraction"].shape == (num_scales,)
    assert out.extras["scale_weights"].shape == (2, num_scales)
    assert torch.allclose(out.extras["scale_weights"].sum(1), torch.ones(2))
    _check_memory_grads(model, num_scales)
    # every parameter takes part
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("fuser", ["sum", "concat"])
def test_other_fusers(fuser: str) -> None:
    model = _small("mmae", num_scales=3, latent="spatial", latent_dim=16, fuser=fuser)
    out, _ = _train_step(model)
    _check_memory_grads(model, 3)
    assert ("scale_weights" in out.extras) == (fuser == "sum")


@pytest.mark.parametrize("latent", ["vector", "spatial"])
@pytest.mark.parametrize("name", ["memae", "ae"])
def test_single_scale_models(name: str, latent: str) -> None:
    model = _small(name, latent=latent, latent_dim=16)
    out, losses = _train_step(model)
    if name == "ae":
        assert out.attentions == () and len(model.memories) == 0
        assert losses["entropy"] == 0 and torch.equal(losses["loss"], losses["mse"])
    else:
        _check_memory_grads(model, 1)


@pytest.mark.parametrize("name,num_scales", [("mmae3d", 1), ("mmae3d", 3), ("mmae3d", 4),
                                              ("memae3d", 1), ("ae3d", 1)])
def test_video_forward_backward(name: str, num_scales: int) -> None:
    kw = {"num_scales": num_scales} if name == "mmae3d" else {}
    model = _small(name, latent_dim=16, **kw)
    assert model.kind == "video" and model.clip_length == 8 and model.in_channels == 1
    out, _ = _train_step(model)
    if name == "ae3d":
        assert out.attentions == ()
        return
    for att in out.attentions:
        assert att.shape == (2, 20, 2, 2, 2)  # every scale reaches the same latent grid
    _check_memory_grads(model, num_scales)


def test_memae3d_is_memae_video_network() -> None:
    with torch.device("meta"):
        model = create_model("memae3d")
        latent = model.encoders[0](torch.empty(1, 1, 16, 256, 256))
        recon = model(torch.empty(1, 1, 16, 256, 256)).recon
    assert latent.shape == (1, 256, 2, 16, 16)
    assert recon.shape == (1, 1, 16, 256, 256)
    convs = [m for m in model.encoders[0].modules() if isinstance(m, nn.Conv3d)]
    assert [(c.in_channels, c.out_channels, c.stride) for c in convs] == [
        (1, 96, (1, 2, 2)), (96, 128, (2, 2, 2)), (128, 256, (2, 2, 2)), (256, 256, (2, 2, 2))]
    deconvs = [m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose3d)]
    assert [(c.in_channels, c.out_channels, c.stride, c.output_padding) for c in deconvs] == [
        (256, 256, (2, 2, 2), (1, 1, 1)), (256, 128, (2, 2, 2), (1, 1, 1)),
        (128, 96, (2, 2, 2), (1, 1, 1)), (96, 1, (1, 2, 2), (0, 1, 1))]
    assert sum(isinstance(m, nn.BatchNorm3d) for m in model.modules()) == 7
    assert sum(isinstance(m, nn.LeakyReLU) for m in model.modules()) == 7
    assert isinstance(list(model.decoder.blocks.modules())[-1], nn.ConvTranspose3d)
    memory = model.memories[0]
    assert memory.memory.shape == (2000, 256)
    assert memory.shrink_threshold == 0.0025 and memory.similarity == "dot"
    assert model.entropy_weight == 0.0002


def test_mmae3d_scales_share_the_latent_grid() -> None:
    with torch.device("meta"):
        model = create_model("mmae3d")
    assert [p.input_size for p in model.plans] == [
        (16, 256, 256), (16, 128, 128), (16, 64, 64), (16, 32, 32)]
    assert {p.grid for p in model.plans} == {(2, 16, 16)}
    assert {p.widths for p in model.plans} == {(96, 128, 256, 256)}


@pytest.mark.parametrize("name", ["mmae", "ae", "mmae3d"])
def test_eval_outputs(name: str) -> None:
    model = _small(name, num_scales=3, latent_dim=16) if name != "ae" else _small(name)
    model.eval()
    x = _input(model, batch=3)
    with torch.no_grad():
        out = model(x)
    expected = ((x - out.recon) ** 2).sum(1, keepdim=True)
    assert out.anomaly_map.shape == (3, 1, *x.shape[2:])
    assert torch.allclose(out.anomaly_map, expected)
    assert torch.allclose(out.pred_score, expected.flatten(1).max(1).values)


def test_loss_combines_mse_and_entropy() -> None:
    model = _small("mmae", num_scales=3, entropy_weight=0.5, latent_dim=16)
    x = _input(model)
    out = model(x)
    losses = model.loss(x, out)
    assert torch.allclose(losses["mse"], ((out.recon - x) ** 2).mean())
    assert torch.allclose(losses["loss"], losses["mse"] + 0.5 * losses["entropy"])
    assert losses["entropy"] > 0


def test_create_model_overrides() -> None:
    model = create_model("mmae", in_channels=1, image_size=32, num_scales=2, gamma=0.5,
                         memory_size=7, latent_dim=12, latent="spatial", widths=(4, 8))
    assert model.in_channels == 1 and model.image_size == 32 and model.kind == "image"
    assert model.num_scales == 2 and model.gamma == 0.5 and model.latent == "spatial"
    assert model.memories[0].memory.shape == (7, 12)
    assert model.input_shape == (1, 32, 32)
    vector = create_model("memae", latent="vector", latent_dim=12, image_size=32,
                          widths=(4, 8))
    assert vector.memories[0].memory.shape == (60, 12)
    # gamma other than 1/2 works with vector latents
    odd = create_model("mmae", image_size=64, num_scales=3, gamma=0.75, widths=(4, 8, 8),
                       latent_dim=8)
    assert odd.scale_sizes == ((64, 64), (48, 48), (36, 36))
    assert odd(torch.rand(1, 3, 64, 64)).recon.shape == (1, 3, 64, 64)


@pytest.mark.parametrize(
    "kwargs,option",
    [
        (dict(gamma=0.0), "gamma"),
        (dict(gamma=1.5), "gamma"),
        (dict(latent="grid"), "latent"),
        (dict(fuser="attention"), "fuser"),
        (dict(fuser="none"), "fuser"),
        (dict(similarity="l1"), "similarity"),
        (dict(image_size=16, num_scales=6), "image_size"),
        (dict(num_scales=4, depth=2), "image_size"),
        (dict(image_size=60, depth=4), "image_size"),
        (dict(memory_size=0), "memory_size"),
        (dict(gamma=0.75, latent="spatial"), "gamma"),
        (dict(bogus=1), "bogus"),
    ],
)
def test_config_errors(kwargs: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option) as err:
        create_model("mmae", **{**SMALL_2D, "num_scales": 3, **kwargs})
    assert "\n" not in str(err.value)


def test_video_config_errors() -> None:
    with pytest.raises(ConfigError, match="clip_length"):
        create_model("memae3d", clip_length=12)
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("memae4d")


def test_pixel_shuffle_nd() -> None:
    x = torch.randn(2, 12, 3, 5)
    assert torch.equal(PixelShuffleND((2, 2))(x), nn.PixelShuffle(2)(x))
    v = torch.randn(1, 8, 2, 3, 4)
    y = PixelShuffleND((1, 2, 2))(v)
    assert y.shape == (1, 2, 2, 6, 8)
    # output voxel (t, 2h+i, 2w+j) of channel c comes from input channel c*4 + i*2 + j
    assert torch.equal(y[0, 1, 1, 2 * 2 + 1, 2 * 3 + 0], v[0, 1 * 4 + 1 * 2 + 0, 1, 2, 3])
    up = UpBlock(3, 8, 4, (1, 2, 2), mode="shuffle")
    assert up(torch.randn(1, 8, 2, 3, 4)).shape == (1, 4, 2, 6, 8)


def test_resize_and_fuser_blocks() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(resize(x, (2, 2)), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    assert resize(x, (4, 4)) is x
    feats = [torch.randn(2, 8, 3, 3) for _ in range(3)]
    fused = build_fuser("sk", 8, 3, dims=2)(feats)
    assert fused.output.shape == (2, 8, 3, 3) and fused.weights.shape == (2, 3, 8)
    assert torch.allclose(fused.weights.sum(1), torch.ones(2, 8))
    mean = build_fuser("sum", 8, 3, dims=2)(feats).output
    assert torch.allclose(mean, sum(feats) / 3)
    with pytest.raises(ValueError, match="fuser"):
        build_fuser("max", 8, 3, dims=2)


@pytest.mark.parametrize("num_scales", [1, 3])
def test_hybrid_latent_2d(num_scales: int) -> None:
    model = _small("mmae", num_scales=num_scales, latent="hybrid", latent_dim=16)
    out, losses = _train_step(model)
    # two memories per scale: local (B, N, 4, 4) then global (B, N)
    assert len(out.attentions) == 2 * num_scales
    for local, glob in zip(out.attentions[::2], out.attentions[1::2], strict=True):
        assert local.shape == (2, 10, 4, 4) and glob.shape == (2, 10)
    assert out.extras["zero_row_fraction"].shape == (2 * num_scales,)
    assert losses["entropy"] > 0
    for path in model.memories:
        assert path.local_memory.memory.grad.abs().sum() > 0
        assert path.global_memory.memory.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    out = model(_input(model))
    assert out.anomaly_map.shape == (2, 1, 64, 64) and out.pred_score.shape == (2,)


def test_hybrid_latent_3d_and_without_memory() -> None:
    model = _small("mmae3d", num_scales=2, latent="hybrid", latent_dim=16)
    out, _ = _train_step(model)
    assert [a.shape for a in out.attentions] == [(2, 20, 2, 2, 2), (2, 20)] * 2
    ae = _small("ae", latent="hybrid", latent_dim=16)
    out, losses = _train_step(ae)
    assert out.attentions == () and torch.equal(losses["loss"], losses["mse"])
    assert ae.memories[0].local_memory is None  # the two paths, no memory


def test_learned_temperature_in_the_model() -> None:
    model = _small("mmae", num_scales=2, latent="spatial", latent_dim=16,
                   learn_temperature=True, temperature=0.5)
    _train_step(model)
    for memory in model.memories:
        assert memory.temperature.item() == pytest.approx(0.5)
        assert memory.log_temperature.grad is not None
        assert memory.log_temperature.grad.abs() > 0
    fixed = _small("mmae", num_scales=2, latent="spatial", latent_dim=16)
    assert not any("temperature" in n for n, _ in fixed.named_parameters())


@pytest.mark.parametrize("fuser", ["sk", "sum", "concat"])
@pytest.mark.parametrize("latent", ["vector", "hybrid"])
def test_fusers_with_every_latent(fuser: str, latent: str) -> None:
    model = _small("mmae", num_scales=3, latent=latent, latent_dim=16, fuser=fuser)
    out, _ = _train_step(model)
    assert out.recon.shape == (2, 3, 64, 64)
    assert ("scale_weights" in out.extras) == (fuser != "concat")


@pytest.mark.parametrize(
    "kwargs,option",
    [
        (dict(latent="both"), "latent"),
        (dict(learn_temperature="learned"), "learn_temperature"),
        (dict(learn_temperature=True, similarity="dot"), "learn_temperature"),
        (dict(gamma=0.75, latent="hybrid"), "latent"),
        (dict(fuser="max"), "fuser"),
    ],
)
def test_design_setting_errors(kwargs: dict, option: str) -> None:
    with pytest.raises(ConfigError, match=option) as err:
        create_model("mmae", **{**SMALL_2D, "num_scales": 3, **kwargs})
    assert "\n" not in str(err.value)


def test_hybrid_memory_layer() -> None:
    torch.manual_seed(0)
    layer = HybridMemory(8, (3, 3), 5, 0.2)
    out = layer(torch.randn(2, 8, 3, 3))
    assert out.output.shape == (2, 8, 3, 3)
    assert [a.shape for a in out.attentions] == [(2, 5, 3, 3), (2, 5)]
    # the read-out is the local read-out plus the mapped global read-out
    x = torch.randn(2, 8, 3, 3)
    local = layer.local_memory(x).output
    glob = layer.from_global(layer.global_memory(layer.to_global(x)).output)
    assert torch.allclose(layer(x).output, local + glob, atol=1e-6)
    with pytest.raises(ValueError, match="expected input"):
        layer(torch.randn(2, 8, 4, 4))
