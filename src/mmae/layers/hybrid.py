"""Hybrid latent (our addition, not in the MMAE paper): a global and a local memory per scale.

The paper's vector latent reads one memory with a whole-image code: it keeps the global layout
but must rebuild every local detail from 60 prototypes. A spatial latent reads one memory per
position: it keeps local detail but sees no context. :class:`HybridMemory` does both on a latent
grid ``(B, C, *grid)``:

1. local: every position is a query to a spatial memory (as ``latent="spatial"``);
2. global: the grid is flattened and projected by a linear layer to a ``C``-vector, which reads
   a vector memory (as ``latent="vector"``); a second linear layer maps the read-out back to a
   ``(B, C, *grid)`` map;
3. the two read-outs are summed.

Without memories (``memory=False``) both paths pass their queries unchanged (a plain autoencoder
with the same two paths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor, nn

from mmae.layers.memory import MemoryModule


class HybridOutput(NamedTuple):
    """Summed read-out ``(B, C, *grid)`` and the attentions ``(local, global)`` (or empty)."""

    output: Tensor
    attentions: tuple[Tensor, ...]


class HybridMemory(nn.Module):
    """A spatial (per-position) memory plus a global vector memory on one latent grid.

    Args:
        channels: Channels C of the latent grid, also the size of the global code.
        grid: Latent grid per spatial axis, e.g. ``(4, 4)`` or ``(2, 4, 4)``.
        num_slots: Slots N of each memory.
        shrink_threshold: Hard-shrinkage lambda of both memories.
        similarity: ``"cosine"`` or ``"dot"``.
        temperature: Cosine temperature (initial value when learned).
        learn_temperature: Learn each memory's cosine temperature.
        memory: ``False`` leaves out both memories (the queries pass through).
    """

    def __init__(
        self,
        channels: int,
        grid: Sequence[int],
        num_slots: int,
        shrink_threshold: float,
        similarity: str = "cosine",
        temperature: float = 1.0,
        learn_temperature: bool = False,
        memory: bool = True,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.grid = tuple(int(g) for g in grid)
        flat = channels * math.prod(self.grid)
        self.to_global = nn.Sequential(nn.Flatten(1), nn.Linear(flat, channels))
        self.from_global = nn.Sequential(nn.Linear(channels, flat),
                                         nn.Unflatten(1, (channels, *self.grid)))
        self.local_memory: MemoryModule | None = None
        self.global_memory: MemoryModule | None = None
        if memory:
            args = (num_slots, channels, shrink_threshold, similarity, temperature,
                    learn_temperature)
            self.local_memory = MemoryModule(*args)
            self.global_memory = MemoryModule(*args)

    def forward(self, x: Tensor) -> HybridOutput:
        """Read both memories with the latent grid ``x`` ``(B, C, *grid)``."""
        if tuple(x.shape[1:]) != (self.channels, *self.grid):
            raise ValueError(f"expected input (B, {self.channels}, "
                             f"{', '.join(map(str, self.grid))}), got {tuple(x.shape)}")
        code = self.to_global(x)
        if self.local_memory is None or self.global_memory is None:
            return HybridOutput(x + self.from_global(code), ())
        local = self.local_memory(x)
        glob = self.global_memory(code)
        output = local.output + self.from_global(glob.output.to(local.output.dtype))
        return HybridOutput(output, (local.attention, glob.attention))
