"""Load a trained run: its resolved config and its model, ready for inference."""

from __future__ import annotations

from pathlib import Path

import torch

from mmae.engine import checkpoint as ck
from mmae.engine.config import RunConfig
from mmae.engine.device import pick_device
from mmae.errors import CheckpointError
from mmae.models.registry import create_model


def load_run(run: Path, device: str | None = None) -> tuple[RunConfig, torch.nn.Module,
                                                             torch.device]:
    """Config, model (eval mode, on ``device``) and device of a run folder.

    Raises:
        RunFolderError: not a run folder. CheckpointError: unsafe, corrupt or mismatched weights.
    """
    run = Path(run)
    cfg = ck.load_config(run)
    state = ck.load_checkpoint(run / ck.CHECKPOINT)
    dev = pick_device(device or cfg.device)
    model = create_model(cfg.model, **cfg.model_kwargs())
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(
            f"{run / ck.CHECKPOINT} does not match its config ({first})") from None
    return cfg, model.to(dev).eval(), dev
