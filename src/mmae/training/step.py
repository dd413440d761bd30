"""One optimisation step (forward, loss, backward, clipping, Adam), free of host synchronisation.

:class:`TrainStep` owns what a step needs: the model (and its DistributedDataParallel wrapper),
the optimiser, the epoch statistics (summed on the device, :mod:`mmae.training.epoch_stats`) and
the optional speed settings:

* ``compile``: ``torch.compile`` of the forward pass and the loss together (``on`` is the
  ``default`` mode; the other values name a torch.compile mode);
* ``channels_last``: 2D models and their inputs in the channels-last memory layout.

Nothing in :meth:`TrainStep.__call__` reads a device value on the host, so on CUDA the host runs
ahead of the GPU; losses are read once per epoch (``tests/test_cuda.py`` checks with
``torch.cuda.set_sync_debug_mode("error")``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from mmae.device import Runtime
from mmae.models.output import ModelOutput
from mmae.training.epoch_stats import EpochStats

COMPILE_MODES = {"on": "default"}  # the mode that ``compile=on`` picks


def compile_mode(setting: str) -> str | None:
    """The torch.compile mode of a ``compile`` setting, or None for ``off``."""
    if setting == "off":
        return None
    return COMPILE_MODES.get(setting, setting)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float,
                   device: torch.device) -> torch.optim.Optimizer:
    """Adam; the fused CUDA kernel on CUDA (one launch for all parameters, no host reads)."""
    fused = device.type == "cuda"
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay,
                            **({"fused": True} if fused else {}))


def uses_channels_last(setting: str, model: nn.Module) -> bool:
    """Whether ``channels_last`` applies: set ``on`` and a 2D (image) model."""
    return setting == "on" and getattr(model, "kind", "image") == "image"


class TrainStep:
    """A callable ``step(x) -> None`` that trains on one batch.

    Args:
        model: The (unwrapped) model, on its device (converted to channels-last here if set).
        net: What runs the forward pass (``model`` or its DistributedDataParallel wrapper).
        opt: The optimiser.
        rt: The runtime (autocast).
        grad_clip: Gradient-norm clip (0: off).
        compile: The ``compile`` setting.
        channels_last: The ``channels_last`` setting.
    """

    def __init__(self, model: nn.Module, net: nn.Module, opt: torch.optim.Optimizer, rt: Runtime,
                 grad_clip: float = 0.0, compile: str = "off", channels_last: str = "off") -> None:
        self.model, self.net, self.opt, self.rt = model, net, opt, rt
        self.grad_clip = grad_clip
        self.channels_last = uses_channels_last(channels_last, model)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.stats = EpochStats(model)
        self.before_update: Callable[[], None] = lambda: None
        self.forward_loss: Callable[[Tensor], tuple[ModelOutput, dict[str, Tensor]]] = \
            self._forward_loss
        mode = compile_mode(compile)
        if mode is not None:
            self.forward_loss = torch.compile(self._forward_loss, mode=mode)

    def _forward_loss(self, x: Tensor) -> tuple[ModelOutput, dict[str, Tensor]]:
        out = self.net(x)
        return out, self.model.loss(x, out)

    def prepare(self, x: Tensor) -> Tensor:
        """The batch on the device, in the step's memory layout."""
        x = x.to(self.rt.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __call__(self, x: Tensor) -> dict[str, Any]:
        """Train on ``x`` (already prepared); returns the step's losses (device tensors)."""
        with self.rt.autocast():
            out, losses = self.forward_loss(x)
        self.stats.add(losses, out, x.shape[0])
        self.opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.stats.grad_norms.update()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip,
                                           foreach=True)
        self.before_update()  # e.g. wait for the checkpoint being written from these weights
        self.opt.step()
        return losses
