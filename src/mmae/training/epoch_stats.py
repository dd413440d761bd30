"""Per-epoch training statistics summed on the device and read once per epoch.

Reading a tensor's value (``loss.item()``, ``float(t)``) makes the host wait for an accelerator,
so the training loop adds each step's loss terms and model diagnostics to device tensors and
reads them when the epoch ends (or when the progress bar shows them). What is logged:

* the mean of every loss term over the epoch's samples;
* ``zero_row_fraction``: per scale, the mean fraction of memory queries whose attention is all zero
  after shrinkage (models with memories, ``extras["zero_row_fraction"]``);
* ``fuser_weight``: per scale, the fuser's mean weight (``extras["scale_weights"]``);
* ``grad_norm``: per module group, the mean over the steps of the group's l2 gradient norm
  before any clipping (:mod:`mmae.training.diagnostics`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmae.models.output import ModelOutput
from mmae.training.diagnostics import GradNorms

# extras key -> log key; each extra is (K,) per batch or (B, K)
_EXTRAS = {"zero_row_fraction": "zero_row_fraction", "scale_weights": "fuser_weight"}


class EpochStats:
    """Sums of one epoch's loss terms and diagnostics, on the device.

    Args:
        model: The (unwrapped) model; its parameters are grouped for the gradient norms.
    """

    def __init__(self, model: nn.Module) -> None:
        self.grad_norms = GradNorms(model)
        self.reset()

    def reset(self) -> None:
        """Start a new epoch."""
        self.seen = 0
        self._keys: list[str] = []
        self._loss: Tensor | None = None
        self._extras: dict[str, Tensor] = {}
        self._event: Any = None  # a CUDA event after the copy that peek() reads
        self._peeked: tuple[Tensor, int] | None = None
        self._last_peek: tuple[float, bool] | None = None

    def add(self, losses: dict[str, Tensor], out: ModelOutput, n: int) -> None:
        """Add one batch of ``n`` samples (call after the forward pass)."""
        self._keys = list(losses)
        terms = torch.stack([v.detach().float() for v in losses.values()]) * n
        self._loss = terms if self._loss is None else self._loss + terms
        for key in _EXTRAS:
            if out.extras and key in out.extras:
                value = out.extras[key].detach().float()
                value = value.mean(dim=0) if value.dim() == 2 else value
                total = value * n
                self._extras[key] = total + self._extras[key] if key in self._extras else total
        self.seen += n

    def finite(self) -> bool:
        """Whether every loss so far was finite (reads one device value)."""
        return self._loss is None or bool(torch.isfinite(self._loss).all())

    def peek(self) -> tuple[float, bool] | None:
        """``(mean loss, all finite)`` so far without waiting for an accelerator: on CUDA the
        values of the previous call, copied meanwhile (None until one has arrived)."""
        if self._loss is None:
            return None
        if self._loss.device.type != "cuda":
            return self.mean_loss(), self.finite()
        if self._event is not None and self._event.query():
            total, seen = self._peeked
            self._last_peek = float(total[0]) / max(seen, 1), bool(torch.isfinite(total).all())
            self._event = None
        if self._event is None:
            self._peeked = (torch.empty(self._loss.shape, pin_memory=True), self.seen)
            self._peeked[0].copy_(self._loss, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        return self._last_peek

    def mean_loss(self) -> float:
        """Mean total loss so far (reads one device value)."""
        return float(self._loss[0]) / max(self.seen, 1) if self._loss is not None else float("nan")

    def summary(self) -> dict[str, Any]:
        """The epoch's means: loss terms, diagnostics and ``grad_norm`` (one read of each)."""
        seen = max(self.seen, 1)
        record: dict[str, Any] = {}
        if self._loss is not None:
            record.update(zip(self._keys, (self._loss / seen).tolist(), strict=True))
        for key, name in _EXTRAS.items():
            if key in self._extras:
                record[name] = [round(v, 4) for v in (self._extras[key] / seen).tolist()]
        norms = self.grad_norms.mean()
        if norms:
            record["grad_norm"] = {g: float(f"{v:.4g}") for g, v in norms.items()}
        return record
