"""He initialisation of the MMAE family, the model setting ``init: he``.

Why (measured at initialisation with the paper's image settings: 256 px, K=5, vector latent
1024, 60 slots, cosine at temperature 1, batch 4 of synthetic carpet images). With PyTorch's
default initialisation (weights ``U(+-1/sqrt(fan_in))``, which keeps a third of the variance per
layer, and biases of the same size) and MemAE's slots ``U(+-1/sqrt(C))``:

* the signal fades through the 7 layers of each encoder, so every image gets nearly the same
  query (cosine between the queries of two images 0.9998) dominated by the biases;
* the cosine between a query and a random slot is about ``+-1/sqrt(C) = 0.03``, so the softmax
  at temperature 1 is uniform to 3% and the read-out (norm 0.1) is the same for every image;
* the gradient fades again through the decoder, and the memory passes on only about
  ``1/sqrt(N C)`` of it to the query.

The mean |gradient| of the encoders' weights was 1e-12 (mean squared error loss; the MSE
gradient at the memory input 3e-11), below Adam's eps (1e-8) and 1e5 times smaller than the
weight-decay term ``1e-5 |w|`` (9e-8): in a short run the encoder weights only shrank (by 5x in
300 steps at 64 px) and the fuser stayed at uniform scale weights.

The MMAE paper specifies LeakyReLU(0.2) networks of convolutions and linear layers but no
initialisation. ``he`` uses the initialisation derived for exactly such networks (He et al.,
2015) and puts the memory at the scale of the features it replaces:

* every convolution, transposed convolution and linear weight: ``kaiming_normal_`` with slope
  0.2, fan-in mode (PyTorch's convention), every bias 0;
* every memory slot ``U(-sqrt(3), sqrt(3))`` (unit variance per element, like the activations
  the He initialisation preserves) instead of MemAE's ``U(+-1/sqrt(C))``;
* the bias of the reconstruction's last layer at the middle of the input range (0.5 for images
  in [0, 1], 0 for clips in [-1, 1]), so that training does not spend its first hundreds of
  steps (at the paper's learning rate 1e-4) lifting the output from 0 to the image level.

Addressing (eq. 4-9), losses and architecture are unchanged. Measured with ``he`` (same
settings): mean |gradient| of the encoder weights 1.4-1.8e-7 per scale (was 0.8-2.3e-12), at
the memory input 1.4-1.7e-7 (was 1.3-3.2e-11): above Adam's eps and of the order of the
weight-decay term (2e-7); the read-out varies between images (std over the batch 0.03-0.04,
was 1e-6-6e-4).
At 64 px (paper settings otherwise, synthetic ``screw``, batch 16, lr 1e-4): after 250 steps the
loss is 1.4x the mean-image baseline (was 3.3x with the default) and 1.07x after 600 steps;
the fuser's scale weights leave 1/K (0.194-0.204; exactly 0.200 with the default).
"""

from __future__ import annotations

import math

from torch import nn

from mmae.layers.blocks import LEAKY_SLOPE
from mmae.layers.memory import MemoryModule

_WEIGHTED = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


def he_init(module: nn.Module, output: nn.Module | None = None,
            output_bias: float = 0.0) -> nn.Module:
    """Re-initialise ``module`` in place by the ``he`` scheme (module docstring); returns it.

    Args:
        module: The model (or any part of it).
        output: The sub-module that produces the reconstruction; its last convolution's bias
            is set to ``output_bias``.
        output_bias: Middle of the input range.
    """
    for layer in module.modules():
        if isinstance(layer, _WEIGHTED):
            nn.init.kaiming_normal_(layer.weight, a=LEAKY_SLOPE, mode="fan_in",
                                    nonlinearity="leaky_relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, MemoryModule):
            bound = math.sqrt(3.0)
            nn.init.uniform_(layer.memory, -bound, bound)
    if output is not None:
        last = [m for m in output.modules() if isinstance(m, _WEIGHTED)][-1]
        if last.bias is not None:
            nn.init.constant_(last.bias, output_bias)
    return module
