"""One factory for every model: ``create_model(name, **overrides)`` and ``list_models()``.

A model is registered with a small function returning its default keyword arguments and the class
that builds it; presets are data, not copies of code::

    @register_model("memae")
    def _memae() -> ModelSpec:
        return ModelSpec(MMAE, dict(num_scales=1, fuser="none"))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from mmae.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: the class that builds it and its default keyword arguments."""

    cls: type[nn.Module]
    defaults: dict[str, Any] = field(default_factory=dict)
    kind: str = "image"  # "image" (2D) or "video" (3D)
    description: str = ""

    def arguments(self) -> dict[str, Any]:
        """Every keyword argument the model accepts, with the registered defaults applied."""
        sig = inspect.signature(self.cls.__init__)
        args = {
            k: p.default
            for k, p in sig.parameters.items()
            if k != "self" and p.default is not inspect.Parameter.empty
        }
        args.update(self.defaults)
        return args


_REGISTRY: dict[str, Callable[[], ModelSpec]] = {}


def register_model(name: str) -> Callable[[Callable[[], ModelSpec]], Callable[[], ModelSpec]]:
    """Register a function returning a :class:`ModelSpec` under ``name``."""

    def deco(fn: Callable[[], ModelSpec]) -> Callable[[], ModelSpec]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def _ensure_loaded() -> None:
    # Importing the model modules runs their @register_model decorators.
    import mmae.models  # noqa: F401


def list_models(kind: str | None = None) -> list[str]:
    """Names of the registered models, sorted; ``kind`` filters by ``"image"`` or ``"video"``."""
    _ensure_loaded()
    return sorted(n for n, fn in _REGISTRY.items() if kind is None or fn().kind == kind)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name``; a clear error for an unknown name."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _REGISTRY[name]()


def model_arguments(name: str) -> dict[str, Any]:
    """Every keyword argument the model accepts, with the registered defaults applied."""
    return get_spec(name).arguments()


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model, e.g. ``create_model("mmae", image_size=64, num_scales=3)``.

    Raises:
        ConfigError: unknown model name, an argument the model does not take, or a value its
            constructor rejects (the modules raise ValueError; this is the one place that turns
            it into the user's error).
    """
    spec = get_spec(name)
    known = spec.arguments()
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(
            f"model {name!r} has no setting {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    kwargs = {**spec.defaults, **overrides}
    try:
        return spec.cls(**kwargs)
    except ValueError as exc:  # the modules' argument checks, as the user's error
        raise ConfigError(f"model {name!r}: {exc}") from None
