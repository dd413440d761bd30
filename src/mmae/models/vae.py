"""Variational autoencoder baseline (Kingma & Welling) with a Gaussian latent and a beta-ELBO.

The network is this package's convolutional autoencoder (``mmae.models.encoders``); the encoder's
linear head outputs ``2 * latent_dim`` numbers, the mean ``mu`` and log-variance ``logvar`` of
``q(z | x)``. Training samples ``z = mu + exp(logvar / 2) * eps``; evaluation decodes ``z = mu``
(the reconstruction of the mean), and the anomaly map is its squared l2 error over channels, the
score the map's maximum, as for every reconstruction model.

Loss (negative beta-ELBO, per input element)::

    loss = mse + beta * kl
    mse  = mean over pixels and channels of (x - recon) ** 2
    kl   = KL(q(z | x) || N(0, I)) summed over the latent, averaged over the batch, divided by
           the number of input elements C * H * W

Dividing the KL by the input size puts both terms on the same per-element scale; ``beta = 1`` is
then the ELBO of a Gaussian decoder with variance 1/2. ``mu`` and ``logvar`` are returned in
``ModelOutput.extras``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmae.models.encoders import (
    OUTPUT_ACTIVATIONS,
    Decoder,
    Encoder,
    check_choice,
    check_positive_int,
    plan_image_autoencoder,
)
from mmae.models.output import ModelOutput
from mmae.models.registry import ModelSpec, register_model

LOGVAR_RANGE = (-30.0, 20.0)  # clamp for numerical safety of exp(logvar)


class VAE(nn.Module):
    """Convolutional VAE; map = squared l2 error of the reconstruction of the mean.

    Args:
        in_channels: Input channels (3 RGB, 1 grayscale).
        image_size: Side of the square input images.
        latent_dim: Dimension of the Gaussian latent ``z``.
        widths: Encoder widths, shallow to deep; the decoder mirrors them.
        depth: Stride-2 layers (latent grid ``image_size / 2**depth``); ``None``: as ``mmae``.
        beta: Weight of the KL term (1 is the ELBO; > 1 a beta-VAE).
        norm: BatchNorm after every conv but the decoder's last.
        output_activation: ``"sigmoid"`` (default), ``"none"`` or ``"tanh"``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 256,
        latent_dim: int = 1024,
        widths: Sequence[int] = (32, 64, 128, 256, 256, 256),
        depth: int | None = None,
        beta: float = 1.0,
        norm: bool = False,
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta!r}")
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        self.kind = "image"
        self.in_channels = in_channels
        self.image_size = image_size
        self.latent_dim = latent_dim
        self.beta = float(beta)
        plan = plan_image_autoencoder(image_size, widths, depth)
        self.encoder = Encoder(in_channels, plan, norm, 2 * latent_dim)
        self.decoder = Decoder(in_channels, plan, "shuffle", norm, latent_dim, output_activation)

    def features(self, x: Tensor) -> list[Tensor]:
        """Encoder feature maps of ``x`` (``Encoder.features``)."""
        return self.encoder.features(x)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of ``q(z | x)``, each ``(B, latent_dim)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def forward(self, x: Tensor) -> ModelOutput:
        """Reconstruct ``x`` (a sample in training, the mean in eval); eval adds map and score."""
        mu, logvar = self.encode(x)
        z = mu
        if self.training:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = self.decoder(z)
        anomaly_map = pred_score = None
        if not self.training:
            anomaly_map = ((x - recon) ** 2).sum(dim=1, keepdim=True)
            pred_score = anomaly_map.flatten(1).amax(dim=1)
        return ModelOutput(recon, anomaly_map, pred_score, (), {"mu": mu, "logvar": logvar})

    def loss(self, x: Tensor, out: ModelOutput) -> dict[str, Tensor]:
        """``loss = mse + beta * kl`` (both per input element, see the module docstring)."""
        assert out.extras is not None
        mu, logvar = out.extras["mu"], out.extras["logvar"]
        mse = F.mse_loss(out.recon, x)
        kl_per_sample = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
        kl = kl_per_sample.mean() / math.prod(x.shape[1:])
        return {"loss": mse + self.beta * kl, "mse": mse, "kl": kl}


@register_model("vae")
def _vae() -> ModelSpec:
    return ModelSpec(VAE, {}, "image",
                     "Variational autoencoder: Gaussian latent, ELBO = MSE + beta * KL")
