"""Weight initialisation schemes selectable as a model setting (``init``).

* ``"default"``: PyTorch's own initialisation of every layer (nothing is changed).
* ``"he"``: He initialisation with unit-variance memory slots (:mod:`mmae.layers.he_init`; it
  needs the model's decoder, so the model applies it).
* ``"memae"``: MemAE's released code: every convolution and transposed convolution weight drawn
  from N(0, 0.02), every BatchNorm weight from N(1, 0.02) and its bias set to 0. Convolution
  biases, linear layers and memories keep their PyTorch initialisation, as in that code.
"""

from __future__ import annotations

from torch import nn

INIT_SCHEMES = ("default", "memae", "he")
_HERE = ("default", "memae")  # the schemes :func:`init_weights` applies itself
MEMAE_STD = 0.02

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
          nn.ConvTranspose3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def init_weights(module: nn.Module, scheme: str = "default") -> nn.Module:
    """Re-initialise the layers of ``module`` in place by ``scheme``; returns ``module``.

    Raises:
        ValueError: ``scheme`` is not one of :data:`INIT_SCHEMES`.
    """
    if scheme not in _HERE:
        raise ValueError(f"init={scheme!r} is not valid here; choose one of: "
                         f"{', '.join(_HERE)} (\"he\" is applied by the model)")
    if scheme == "default":
        return module
    for layer in module.modules():
        if isinstance(layer, _CONVS):
            nn.init.normal_(layer.weight, 0.0, MEMAE_STD)
        elif isinstance(layer, _NORMS) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, MEMAE_STD)
            nn.init.zeros_(layer.bias)
    return module
