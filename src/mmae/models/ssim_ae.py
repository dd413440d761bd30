"""SSIM autoencoder (Bergmann et al. 2019): trained with the SSIM loss, anomaly map ``1 - SSIM``.

The network is the plain convolutional autoencoder of this package (``mmae.models.encoders``:
strided 3x3 convs down to a latent grid, a linear bottleneck of ``latent_dim``, a mirrored
pixel-shuffle decoder). Only the loss and the map differ from the l2 autoencoder ``ae``:

* loss: ``1 - mean(SSIM(x, recon))`` with an 11x11 Gaussian window, sigma 1.5 (Bergmann et al.);
* anomaly map: ``1 - SSIM`` per pixel (``mmae.layers.ssim``); for colour images the per-channel
  SSIM maps are averaged first, giving ``(B, 1, H, W)``; the image score is the map's maximum.

The reconstruction ends with a sigmoid by default, so it stays in the images' [0, 1] range that the
SSIM constants (data range 1) assume.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from mmae.layers.ssim import ssim_anomaly_map
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


class SSIMAE(nn.Module):
    """Convolutional autoencoder trained with the SSIM loss; map = ``1 - SSIM``.

    Args:
        in_channels: Input channels (3 RGB, 1 grayscale).
        image_size: Side of the square input images.
        latent_dim: Size of the vector bottleneck.
        widths: Encoder widths, shallow to deep; the decoder mirrors them.
        depth: Stride-2 layers (latent grid ``image_size / 2**depth``); ``None``: as ``mmae``.
        window_size: Side of the Gaussian SSIM window (odd).
        sigma: Standard deviation of the SSIM window, in pixels.
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
        window_size: int = 11,
        sigma: float = 1.5,
        norm: bool = False,
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        if not isinstance(window_size, int) or window_size < 1 or window_size % 2 == 0:
            raise ValueError(f"window_size must be a positive odd integer, got {window_size!r}")
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        check_positive_int("latent_dim", latent_dim)
        self.kind = "image"
        self.in_channels = in_channels
        self.image_size = image_size
        self.latent_dim = latent_dim
        self.window_size = window_size
        self.sigma = float(sigma)
        plan = plan_image_autoencoder(image_size, widths, depth)
        self.encoder = Encoder(in_channels, plan, norm, latent_dim)
        self.decoder = Decoder(in_channels, plan, "shuffle", norm, latent_dim, output_activation)

    def features(self, x: Tensor) -> list[Tensor]:
        """Encoder feature maps of ``x`` (``Encoder.features``)."""
        return self.encoder.features(x)

    def forward(self, x: Tensor) -> ModelOutput:
        """Reconstruct ``x``; in eval mode also the ``1 - SSIM`` map and its maximum."""
        recon = self.decoder(self.encoder(x))
        anomaly_map = pred_score = None
        if not self.training:
            anomaly_map = ssim_anomaly_map(x, recon, self.window_size, self.sigma)
            pred_score = anomaly_map.flatten(1).amax(dim=1)
        return ModelOutput(recon, anomaly_map, pred_score, (), {})

    def loss(self, x: Tensor, out: ModelOutput) -> dict[str, Tensor]:
        """``loss = 1 - mean SSIM``; ``mse`` is logged for comparison with the l2 models."""
        dissim = ssim_anomaly_map(x, out.recon, self.window_size, self.sigma).mean()
        mse = F.mse_loss(out.recon.detach(), x)
        return {"loss": dissim, "ssim": 1.0 - dissim.detach(), "mse": mse}


@register_model("ssim_ae")
def _ssim_ae() -> ModelSpec:
    return ModelSpec(SSIMAE, {}, "image",
                     "SSIM autoencoder (Bergmann et al.): SSIM loss, map 1 - SSIM (11x11, s=1.5)")
