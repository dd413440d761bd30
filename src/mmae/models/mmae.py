"""MMAE: multi-scale memory-augmented autoencoder (2D images and 3D video, one code path).

K encoders; encoder i sees the input resized (spatially, by area averaging) by
``gamma ** (i - 1)``. Each scale's feature is a query to its own memory (``mmae.layers``), the K
de-anomalised features are merged by a multi-scale attention fuser, and one decoder reconstructs
the full-resolution input. MemAE is the one-scale special case and the plain autoencoder the
memory-free one; the registered names at the bottom are settings of this one class.

Latents:
* ``"vector"``: each scale's map is flattened and projected by a linear layer to ``latent_dim``
  (the paper's 1024); a memory slot is a whole vector; the decoder starts with a linear layer.
* ``"spatial"``: per-location memory on a latent grid that every scale's encoder reaches (encoder i
  has fewer stride-2 layers); ``latent_dim`` is the grid's channel count (the last encoder width).
* ``"hybrid"`` (our addition, not in the paper): the spatial latent grid read by a per-location
  memory *and*, through a linear layer, by a global vector memory of size ``latent_dim``; the two
  read-outs are summed (:mod:`mmae.layers.hybrid`). Each scale then has two memories (their
  attentions are listed local, global per scale).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmae.layers.blocks import resize
from mmae.layers.fuser import FUSERS, build_fuser
from mmae.layers.he_init import he_init
from mmae.layers.hybrid import HybridMemory
from mmae.layers.init import INIT_SCHEMES, init_weights
from mmae.layers.memory import SIMILARITIES, MemoryModule, entropy_loss, zero_row_fraction
from mmae.models.encoders import (
    OUTPUT_ACTIVATIONS,
    Decoder,
    Encoder,
    check_choice,
    check_positive_int,
    check_widths,
    latent_grid,
    plan_encoder,
)
from mmae.models.output import ModelOutput
from mmae.models.registry import ModelSpec, register_model

LATENTS = ("vector", "spatial", "hybrid")
UPSAMPLING = ("shuffle", "transpose")


class MMAE(nn.Module):
    """Multi-scale memory-augmented autoencoder; MemAE and AE are special cases.

    Args:
        in_channels: Input channels (3 RGB, 1 grayscale / video).
        image_size: Side of the square input images (video: frame side).
        num_scales: Number of scales K (one encoder and one memory each).
        gamma: Resize factor between consecutive scales, in (0, 1).
        memory_size: Slots N per memory.
        latent_dim: Vector latent size (``"vector"``) or latent channels (``"spatial"``).
        latent: ``"vector"``, ``"spatial"`` or ``"hybrid"`` (our addition).
        widths: Encoder widths of the full-resolution encoder, shallow to deep; the decoder
            mirrors them. Shorter encoders use the last entries.
        depth: Stride-2 layers of the full-resolution encoder (latent grid
            ``image_size / 2**depth``); ``None``: the largest ``<= len(widths)`` that divides.
        use_memory: ``False`` gives a plain (multi-scale) autoencoder.
        shrink_threshold: Hard-shrinkage lambda; ``None`` means ``1 / memory_size``.
        similarity: ``"cosine"`` (papers) or ``"dot"`` (MemAE's code).
        temperature: Cosine temperature; 1 is the papers' formula (measurements of zero rows
            for other values: ``mmae.layers.memory``). The initial value when learned.
        learn_temperature: Our addition: learn each memory's cosine temperature (cosine only).
        entropy_weight: Weight of the attention entropy in the loss.
        fuser: ``"sk"``, ``"sum"``, ``"concat"`` or ``"none"`` (one scale only).
        norm: BatchNorm after every conv but the decoder's last.
        upsample: ``"shuffle"`` (pixel shuffle, paper) or ``"transpose"`` (MemAE).
        output_activation: ``"none"``, ``"sigmoid"`` or ``"tanh"``.
        dims: 2 (images ``(B, C, H, W)``) or 3 (clips ``(B, C, T, H, W)``).
        clip_length: Frames per clip (``dims=3``).
        temporal_depth: Temporal stride-2 layers (``dims=3``; 3 turns 16 frames into 2).
        min_encoder_layers: Every encoder has at least this many conv layers (MemAE video: 4).
        init: Weight initialisation: ``"default"`` (PyTorch's layers, MemAE's slots),
            ``"memae"`` (MemAE's code: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02)
            and biases 0; ``mmae.layers.init``) or ``"he"`` (He initialisation, unit-variance
            slots, mid-range output bias: :mod:`mmae.layers.he_init`, which also holds the
            measurements). With the paper's image settings and ``default`` the encoders get a
            mean |gradient| of 1e-12 at init; with ``he`` 1.5e-7.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 256,
        num_scales: int = 5,
        gamma: float = 0.5,
        memory_size: int = 60,
        latent_dim: int = 1024,
        latent: str = "vector",
        widths: Sequence[int] = (32, 64, 128, 256, 256, 256),
        depth: int | None = None,
        use_memory: bool = True,
        shrink_threshold: float | None = None,
        similarity: str = "cosine",
        temperature: float = 1.0,
        learn_temperature: bool = False,
        entropy_weight: float = 0.0002,
        fuser: str = "sk",
        norm: bool = False,
        upsample: str = "shuffle",
        output_activation: str = "none",
        dims: int = 2,
        clip_length: int = 16,
        temporal_depth: int = 3,
        min_encoder_layers: int = 1,
        init: str = "default",
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["widths"] = list(widths)
        check_choice("dims", dims, (2, 3))
        check_choice("latent", latent, LATENTS)
        check_choice("fuser", fuser, FUSERS)
        check_choice("similarity", similarity, SIMILARITIES)
        check_choice("upsample", upsample, UPSAMPLING)
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        check_choice("init", init, INIT_SCHEMES)
        for name in ("in_channels", "image_size", "num_scales", "memory_size", "latent_dim",
                     "clip_length", "min_encoder_layers"):
            check_positive_int(name, self.config[name])
        channels = check_widths(widths)
        if not 0.0 < float(gamma) < 1.0:
            raise ValueError(f"gamma must lie in (0, 1), got {gamma!r}")
        if fuser == "none" and num_scales > 1:
            raise ValueError(f"fuser='none' needs num_scales=1, got num_scales={num_scales}; "
                              f"use fuser='sk', 'sum' or 'concat'")
        if shrink_threshold is None:
            shrink_threshold = 1.0 / memory_size
        if shrink_threshold < 0:
            raise ValueError(f"shrink_threshold must be >= 0, got {shrink_threshold!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not isinstance(learn_temperature, bool):
            raise ValueError(f"learn_temperature must be true or false, got {learn_temperature!r}")
        if learn_temperature and similarity != "cosine":
            raise ValueError(f"learn_temperature=true needs similarity='cosine', "
                             f"got similarity={similarity!r}")
        if entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0, got {entropy_weight!r}")

        self.kind = "image" if dims == 2 else "video"
        self.dims = dims
        self.in_channels = in_channels
        self.image_size = image_size
        self.clip_length = clip_length if dims == 3 else None
        self.num_scales = num_scales
        self.gamma = float(gamma)
        self.latent = latent
        self.latent_dim = latent_dim
        self.use_memory = use_memory
        self.entropy_weight = float(entropy_weight)

        grid = latent_grid(image_size, channels, depth)
        time_size, time_grid = self._time_axis(dims, clip_length, temporal_depth)
        if latent != "vector":
            channels = channels[:-1] + (latent_dim,)
        vector_dim = latent_dim if latent == "vector" else None
        plans = []
        for i in range(num_scales):
            side = round(image_size * self.gamma**i)
            if side < grid:
                raise ValueError(
                    f"image_size {image_size} is too small for num_scales={num_scales} with "
                    f"gamma={gamma}: scale {i + 1} would be {side} px, smaller than the {grid} "
                    f"px latent grid (raise image_size, lower num_scales or set depth)")
            plan = plan_encoder(time_size + (side, side), time_grid + (grid, grid), channels,
                                min_encoder_layers)
            if latent != "vector" and plan.grid[-1] != grid:
                raise ValueError(
                    f"gamma={gamma}: scale {i + 1} ({side} px) cannot reach the {grid} px latent "
                    f"grid by halving; latent={latent!r} needs sizes grid * 2**n (e.g. "
                    f"gamma=0.5)")
            plans.append(plan)
        self.plans = tuple(plans)
        self.scale_sizes = tuple(p.input_size for p in plans)
        self.encoders = nn.ModuleList(Encoder(in_channels, p, norm, vector_dim) for p in plans)
        reading = (shrink_threshold, similarity, temperature, learn_temperature)
        if latent == "hybrid":
            self.memories = nn.ModuleList(
                HybridMemory(latent_dim, plans[0].grid, memory_size, *reading, memory=use_memory)
                for _ in range(num_scales))
        else:
            self.memories = nn.ModuleList(
                MemoryModule(memory_size, latent_dim, *reading)
                for _ in range(num_scales if use_memory else 0))
        fused_dims = 0 if latent == "vector" else dims
        self.fuser = build_fuser(fuser, latent_dim, num_scales, fused_dims)
        self.decoder = Decoder(in_channels, plans[0], upsample, norm, vector_dim,
                               output_activation)
        if init == "he":
            he_init(self, self.decoder, 0.5 if dims == 2 else 0.0)
        else:
            init_weights(self, init)

    @staticmethod
    def _time_axis(
        dims: int, clip_length: int, temporal_depth: int
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if dims == 2:
            return (), ()
        if not isinstance(temporal_depth, int) or temporal_depth < 0:
            raise ValueError(f"temporal_depth must be a non-negative integer, "
                              f"got {temporal_depth!r}")
        if clip_length % 2**temporal_depth:
            raise ValueError(f"clip_length {clip_length} is not divisible by 2**temporal_depth"
                              f" = {2**temporal_depth}")
        return (clip_length,), (clip_length // 2**temporal_depth,)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Expected input shape without the batch axis, e.g. ``(3, 256, 256)``."""
        return (self.in_channels, *self.scale_sizes[0])

    def encode(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per-scale queries and their de-anomalised read-outs (equal when without memory)."""
        pairs = zip(self.encoders, self.scale_sizes, strict=True)
        queries = [enc(resize(x, size)) for enc, size in pairs]
        if self.latent == "hybrid":
            hybrid = [path(q) for path, q in zip(self.memories, queries, strict=True)]
            return [h.output for h in hybrid], [a for h in hybrid for a in h.attentions]
        if not self.use_memory:
            return queries, []
        reads = [memory(q) for memory, q in zip(self.memories, queries, strict=True)]
        return [r.output for r in reads], [r.attention for r in reads]

    def features(self, x: Tensor, scales: int = 1) -> list[Tensor]:
        """Encoder feature maps of ``x`` (the hook of feature-space scoring).

        The full-resolution encoder's first two blocks (``Encoder.features``); with
        ``scales > 1`` also the first block of the encoders of the next ``scales - 1`` scales
        (input resized by ``gamma**i``): the same local structure seen at coarser scales.

        Raises:
            ValueError: ``scales`` outside ``1..num_scales``.
        """
        if not isinstance(scales, int) or not 1 <= scales <= self.num_scales:
            raise ValueError(f"scales must be in 1..{self.num_scales}, got {scales!r}")
        out = self.encoders[0].features(resize(x, self.scale_sizes[0]))
        for enc, size in zip(self.encoders[1:scales], self.scale_sizes[1:scales], strict=True):
            out.append(enc.features(resize(x, size))[0])
        return out

    def forward(self, x: Tensor) -> ModelOutput:
        """Reconstruct ``x``; in eval mode also the anomaly map and score (model contract)."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"expected input (B, {', '.join(map(str, self.input_shape))}), "
                             f"got {tuple(x.shape)}")
        features, attentions = self.encode(x)
        fused = self.fuser(features)
        recon = self.decoder(fused.output)
        extras: dict[str, Tensor] = {}
        if attentions:
            extras["zero_row_fraction"] = torch.stack([zero_row_fraction(a) for a in attentions])
        if fused.weights is not None:
            extras["scale_weights"] = fused.weights.detach().mean(dim=2)
        anomaly_map = pred_score = None
        if not self.training:
            anomaly_map = ((x - recon) ** 2).sum(dim=1, keepdim=True)
            pred_score = anomaly_map.flatten(1).amax(dim=1)
        return ModelOutput(recon, anomaly_map, pred_score, tuple(attentions), extras)

    def loss(self, x: Tensor, out: ModelOutput) -> dict[str, Tensor]:
        """``loss = mse + entropy_weight * entropy`` (entropy: mean over scales)."""
        mse = F.mse_loss(out.recon, x)
        if out.attentions:
            entropy = torch.stack([entropy_loss(a) for a in out.attentions]).mean()
        else:
            entropy = mse.new_zeros(())
        return {"loss": mse + self.entropy_weight * entropy, "mse": mse, "entropy": entropy}


@register_model("mmae")
def _mmae() -> ModelSpec:
    return ModelSpec(MMAE, {}, "image",
                     "MMAE (paper): 256 px, K=5 scales, gamma 0.5, 60 slots, vector latent 1024")


@register_model("memae")
def _memae() -> ModelSpec:
    return ModelSpec(MMAE, {"num_scales": 1, "fuser": "none"}, "image",
                     "MemAE: one scale, one memory, no fuser")


@register_model("ae")
def _ae() -> ModelSpec:
    return ModelSpec(MMAE, {"num_scales": 1, "fuser": "none", "use_memory": False}, "image",
                     "Plain convolutional autoencoder (l2-AE): one scale, no memory")
