"""Training diagnostics: gradient norms per module group, kept on the device.

Parameters are grouped by the model attribute that owns them: ``encoders`` (also a single
``encoder``), ``memories``, ``fuser`` and ``decoder``; anything else falls in ``other``, so the
groups always partition the parameters. :class:`GradNorms` computes each group's l2 gradient norm
after ``backward`` with one fused norm per group and keeps the per-epoch sums on the device; they
are read (one synchronisation) when the epoch ends.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# owning attribute (first component of a parameter name) -> group
_GROUP_OF = {"encoders": "encoders", "encoder": "encoders", "memories": "memories",
             "memory": "memories", "fuser": "fuser", "decoder": "decoder"}
GROUPS = ("encoders", "memories", "fuser", "decoder", "other")


def module_group(name: str) -> str:
    """The group of parameter ``name`` (e.g. ``"encoders.0.net.0.weight"`` -> ``"encoders"``)."""
    parts = name.split(".")
    if parts[0] == "module" and len(parts) > 1:  # DistributedDataParallel wrapper
        parts = parts[1:]
    return _GROUP_OF.get(parts[0], "other")


def parameter_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Trainable parameters by group, in :data:`GROUPS` order; empty groups are left out."""
    groups: dict[str, list[nn.Parameter]] = {g: [] for g in GROUPS}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups[module_group(name)].append(p)
    return {g: ps for g, ps in groups.items() if ps}


def group_grad_norms(groups: dict[str, list[nn.Parameter]],
                     index_cache: dict[tuple[int, ...], Tensor] | None = None) -> Tensor:
    """l2 norm of the gradients of each group, a ``(len(groups),)`` float32 tensor on the device.

    One fused norm over all gradients, then per-group sums of squares; parameters without a
    gradient count as zero. ``index_cache`` keeps the group index tensors on the device, so a
    training step copies nothing from the host.
    """
    grads, index = [], []
    for g, params in enumerate(groups.values()):
        for p in params:
            if p.grad is not None:
                grads.append(p.grad)
                index.append(g)
    device = next(iter(groups.values()))[0].device
    sq = torch.zeros(len(groups), device=device)
    if grads:
        norms = torch.stack(torch._foreach_norm(grads)).float()
        key = tuple(index)
        where = index_cache.get(key) if index_cache is not None else None
        if where is None:
            where = torch.tensor(index, device=device)
            if index_cache is not None:
                index_cache[key] = where
        sq.index_add_(0, where, norms * norms)
    return sq.sqrt()


class GradNorms:
    """Sum of the per-step group gradient norms of one epoch, on the device.

    Args:
        model: The (unwrapped) model whose parameters are grouped.
    """

    def __init__(self, model: nn.Module) -> None:
        self.groups = parameter_groups(model)
        self._sum: Tensor | None = None
        self._steps = 0
        self._index: dict[tuple[int, ...], Tensor] = {}

    def update(self) -> None:
        """Add the current gradients' group norms (call after ``backward``)."""
        norms = group_grad_norms(self.groups, self._index)
        self._sum = norms if self._sum is None else self._sum + norms
        self._steps += 1

    def mean(self) -> dict[str, float]:
        """Mean norm per group over the steps so far (one device synchronisation); resets."""
        if self._sum is None:
            return {}
        values = (self._sum / self._steps).tolist()
        self._sum, self._steps = None, 0
        return dict(zip(self.groups, values, strict=True))
