"""Memory addressing of MemAE / MMAE: a learnable bank of prototype slots read by attention.

Every query (a latent vector, or every location of a latent map) is replaced by a sparse convex
combination of the slots (MMAE paper eq. 4-9, MemAE section 3.3):

1. similarity to every slot: cosine (the papers' formula, divided by ``temperature``) or the raw
   dot product (MemAE's released code, which ignores ``temperature``);
2. softmax over the slots;
3. hard shrinkage ``w' = relu(w - lam) * w / (|w - lam| + 1e-12)``;
4. L1 renormalisation ``w' / max(||w'||_1, 1e-12)``: a row whose weights are all ``<= lam``
   becomes a zero vector (and reads out zero);
5. read-out ``w' M``.

Zero rows (the known pitfall) and the defaults. Measured on this package's models (CPU probe:
``mmae`` at 64 px, K=3, channels (16, 32, 64, 64), N=60, batch 16 of synthetic textures, Adam),
fraction of all-zero rows per scale, at init -> after training steps (surviving weights per row):

* cosine, temperature 1 (the papers' formula, no temperature), lam = 1/N -- **the defaults**:
  vector latent 1024: 0.00 at init, after 60 steps (lr 1e-4) and 150 steps (lr 1e-3); about
  25-33 of 60 weights survive at init, 12-16 after 150 steps. Spatial latent: 0.00 throughout,
  about 25-31 survivors.
* cosine, temperature 1, lam = 2/N: 1.00 at init and still 1.00 after 150 steps (vector and
  spatial): the softmax of cosines in [-1, 1] is too flat for any weight to pass 2/N. Dead.
* cosine, temperature 0.1, lam = 2/N: 0.00 / 0.38 / 0.81 per scale at init; lam = 3/N: 0.19 /
  1.00 / 1.00 at init, 1.00 everywhere after 60 steps.
* cosine, temperature 0.1-0.2, lam = 1/N: no zero rows, but after 20-50 steps every row keeps
  exactly one slot; its renormalised weight is then the constant 1 and no gradient reaches the
  encoder through the memory. Hence the default temperature 1.
* dot, lam = 3/N: 1.00 at init and after 60 steps; dot, lam = 1/N behaves like cosine T=1.
* dot, N=2000, lam=0.0025 (MemAE's video settings, ``memae3d``/``mmae3d`` at 16x64x64 clips,
  full widths): 0.81 at init, 0.74 after 10 steps (0.70-0.86 per scale for ``mmae3d``): the
  released code's behaviour, kept on purpose; log it.

Rule of thumb: with cosine similarity keep ``lam <= 1/N`` at temperature 1, or lower the
temperature only together with raising ``lam``.

See :func:`zero_row_fraction` to log it during training.
"""

from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SIMILARITIES = ("cosine", "dot")
MIN_TEMPERATURE = 0.01  # a learned temperature is clamped here (inverse temperature <= 100)


class MemoryOutput(NamedTuple):
    """What :class:`MemoryModule` returns.

    Attributes:
        output: Read-out ``w' M``, the input's shape ``(B, dim[, *spatial])``; float32 unless
            both the input and the slots are in a lower precision.
        attention: Post-shrinkage, renormalised weights ``(B, num_slots[, *spatial])``, float32.
    """

    output: Tensor
    attention: Tensor


def hard_shrink_relu(weights: Tensor, threshold: float, eps: float = 1e-12) -> Tensor:
    """MemAE's continuous hard shrinkage ``relu(w - lam) * w / (|w - lam| + eps)``."""
    return F.relu(weights - threshold) * weights / (torch.abs(weights - threshold) + eps)


def float32_section(device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which autocast is off on ``device`` (a no-op where autocast does not exist)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def address_weights(
    queries: Tensor,
    memory: Tensor,
    similarity: str,
    temperature: Tensor | float,
    shrink_threshold: float,
) -> Tensor:
    """Steps 1-4 of the module docstring in the dtype of the inputs (no precision guard).

    Args:
        queries: ``(Q, dim)``.
        memory: Slots ``(N, dim)``.
        similarity: ``"cosine"`` or ``"dot"``.
        temperature: Divides the cosine similarity; ignored for ``"dot"``.
        shrink_threshold: Hard-shrinkage lambda; ``0`` disables shrinkage and renormalisation.

    Returns:
        Attention weights ``(Q, N)``.
    """
    if similarity == "dot":
        logits = queries @ memory.t()
    else:
        logits = F.normalize(queries, dim=1) @ F.normalize(memory, dim=1).t()
        logits = logits / temperature
    weights = F.softmax(logits, dim=1)
    if shrink_threshold > 0:
        weights = hard_shrink_relu(weights, shrink_threshold)
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return weights


class MemoryModule(nn.Module):
    """Memory of ``num_slots`` learnable slots of size ``dim``, addressed by attention.

    Args:
        num_slots: Number of slots N.
        dim: Size of a query and of a slot (the channel dimension of the input).
        shrink_threshold: Hard-shrinkage threshold lambda; ``0`` disables shrinkage and the L1
            renormalisation (as in MemAE's code). Typical values lie in ``[1/N, 3/N]``.
        similarity: ``"cosine"`` (papers) or ``"dot"`` (MemAE's released code).
        temperature: Divides the cosine similarity before the softmax; ignored for ``"dot"``.
            With ``learn_temperature`` it is the initial value.
        learn_temperature: Our addition beyond the papers (which use a fixed temperature 1):
            the cosine temperature becomes the parameter ``log_temperature`` (its logarithm,
            trained with the other weights, clamped at ``MIN_TEMPERATURE``). Cosine only.

    The slots are the parameter ``memory`` of shape ``(num_slots, dim)``, initialised
    ``U(-1/sqrt(dim), 1/sqrt(dim))`` and trained by the optimiser like any weight.

    Precision: addressing, softmax, shrinkage, renormalisation and the read-out run in float32
    with autocast disabled, whatever the surrounding autocast (bf16 rounds softmax weights of
    about ``1/N`` right at the threshold ``lam ~ 1/N``: on the CPU, with 60 slots, it changed
    the surviving slots per query from 29 to 27 and the read-out by 29% relative).
    """

    def __init__(
        self,
        num_slots: int,
        dim: int,
        shrink_threshold: float,
        similarity: str = "cosine",
        temperature: float = 1.0,
        learn_temperature: bool = False,
    ) -> None:
        super().__init__()
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        if num_slots < 1 or dim < 1:
            raise ValueError(f"num_slots and dim must be positive, got {num_slots}, {dim}")
        if shrink_threshold < 0:
            raise ValueError(f"shrink_threshold must be >= 0, got {shrink_threshold}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if learn_temperature and similarity != "cosine":
            raise ValueError(f"learn_temperature needs similarity='cosine', got {similarity!r}")
        self.num_slots = num_slots
        self.dim = dim
        self.shrink_threshold = float(shrink_threshold)
        self.similarity = similarity
        self.learn_temperature = bool(learn_temperature)
        self._temperature = float(temperature)
        self.memory = nn.Parameter(torch.empty(num_slots, dim))
        self.log_temperature: nn.Parameter | None = None
        if self.learn_temperature:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the slots ``U(-1/sqrt(dim), 1/sqrt(dim))`` (MemAE)."""
        bound = 1.0 / math.sqrt(self.dim)
        nn.init.uniform_(self.memory, -bound, bound)

    @property
    def temperature(self) -> Tensor | float:
        """The cosine temperature: a float, or a 0-d float32 tensor when learned."""
        if self.log_temperature is None:
            return self._temperature
        return self.log_temperature.float().exp().clamp_min(MIN_TEMPERATURE)

    def address(self, queries: Tensor) -> Tensor:
        """Float32 attention weights ``(Q, num_slots)`` of queries ``(Q, dim)``."""
        with float32_section(queries.device):
            return address_weights(queries.float(), self.memory.float(), self.similarity,
                                   self.temperature, self.shrink_threshold)

    def forward(self, x: Tensor) -> MemoryOutput:
        """Read the memory with every query of ``x`` ``(B, dim)`` or ``(B, dim, *spatial)``."""
        if x.dim() < 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected input (B, {self.dim}, ...), got {tuple(x.shape)}")
        channels_last = torch.movedim(x, 1, -1)
        weights = self.address(channels_last.reshape(-1, self.dim))
        with float32_section(x.device):
            read = weights @ self.memory.float()
        read = read.to(torch.promote_types(x.dtype, self.memory.dtype))
        lead = channels_last.shape[:-1]
        output = torch.movedim(read.reshape(*lead, self.dim), -1, 1)
        attention = torch.movedim(weights.reshape(*lead, self.num_slots), -1, 1)
        return MemoryOutput(output, attention)

    def extra_repr(self) -> str:
        temp = "learned" if self.learn_temperature else f"{self._temperature:g}"
        return (
            f"num_slots={self.num_slots}, dim={self.dim}, "
            f"shrink_threshold={self.shrink_threshold:g}, similarity={self.similarity!r}, "
            f"temperature={temp}"
        )


def _rows(attention: Tensor) -> Tensor:
    """Attention ``(B, N[, *spatial])`` as one row per query ``(Q, N)``."""
    return torch.movedim(attention, 1, -1).reshape(-1, attention.shape[1])


def entropy_loss(attention: Tensor) -> Tensor:
    """Mean over queries of ``-sum_j w_j log(w_j + 1e-12)`` (MemAE's sparsity loss)."""
    rows = _rows(attention)
    return -(rows * torch.log(rows + 1e-12)).sum(dim=1).mean()


def zero_row_fraction(attention: Tensor) -> Tensor:
    """Fraction (a 0-d tensor) of queries whose attention row is all zeros after shrinkage."""
    rows = _rows(attention.detach())
    return (rows.sum(dim=1) == 0).float().mean()
