"""``Run``: one run folder (config, checkpoint, thresholds, log, lock) and its model.

Layout::

    RUN/config.yaml        the resolved config, in sections (model, data, train, eval)
    RUN/checkpoint.pt      model, optimizer, epoch and RNG state (atomic, weights-only load)
    RUN/train_log.jsonl    one JSON record per epoch
    RUN/thresholds.json    "default" names the threshold predict uses; "normal", "f1", ...
    RUN/postprocess.pt     post-processing statistics fitted on normal images (when needed)
    RUN/.lock              the writer's lock (see :mod:`mmae.runs.lock`)

Every file is written atomically; a process that writes into the folder holds :meth:`Run.lock`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from mmae.config import RunConfig
from mmae.data.files import atomic_write_text
from mmae.device import pick_device
from mmae.errors import CheckpointError, ConfigError, RunFolderError
from mmae.models.registry import create_model
from mmae.runs import checkpoint as ck
from mmae.runs.lock import RunLock
from mmae.scoring.thresholds import choose_threshold


class Run:
    """A run folder.

    Args:
        path: The folder (it need not exist yet for a run that is being created).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def checkpoint_path(self) -> Path:
        """``RUN/checkpoint.pt``."""
        return self.path / ck.CHECKPOINT

    def lock(self, enabled: bool = True) -> RunLock:
        """The folder's exclusive writer lock (a context manager); refuses a second writer."""
        return RunLock(self.path, enabled=enabled)

    def config(self) -> RunConfig:
        """The resolved config saved in the run.

        Raises:
            RunFolderError: not a run folder, or an unreadable config.
        """
        path = self.path / ck.CONFIG
        if not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} does not exist")
        if not path.is_file():
            raise RunFolderError(f"{self.path} is not a run folder (no {ck.CONFIG})")
        try:
            return RunConfig.from_dict(yaml.safe_load(path.read_text()))
        except (yaml.YAMLError, TypeError, AttributeError, ConfigError) as exc:
            raise RunFolderError(f"{path} is not a valid run config ({exc})") from None

    def save_config(self, cfg: RunConfig) -> None:
        """Write the resolved config (sections) atomically."""
        atomic_write_text(self.path / ck.CONFIG, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def load_checkpoint(self) -> dict[str, Any]:
        """The checkpoint dict (weights-only load); see :func:`checkpoint.load_checkpoint`."""
        return ck.load_checkpoint(self.checkpoint_path)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Atomically write the checkpoint dict."""
        ck.save_checkpoint(self.checkpoint_path, state)

    def postprocess_record(self) -> dict[str, Any] | None:
        """``postprocess.pt`` (settings, fit split, fitted tensors), or None when absent."""
        path = self.path / ck.POSTPROCESS
        if not path.is_file():
            return None
        try:
            rec = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated, or unsafe content
            first = (str(exc).strip().splitlines() or ["unreadable"])[0]
            raise CheckpointError(f"{path} is unreadable ({first})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("state"), dict):
            raise CheckpointError(f"{path} is not an mmae post-processing file")
        return rec

    def save_postprocess(self, record: dict[str, Any]) -> None:
        """Atomically write ``postprocess.pt``."""
        ck.save_checkpoint(self.path / ck.POSTPROCESS, record)

    def thresholds(self) -> dict[str, Any]:
        """``thresholds.json`` (empty if none)."""
        path = self.path / ck.THRESHOLDS
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{path} is unreadable ({exc})") from None

    def save_thresholds(self, entries: dict[str, Any]) -> None:
        """Merge ``entries`` into ``thresholds.json`` atomically."""
        current = self.thresholds()
        current.update(entries)
        atomic_write_text(self.path / ck.THRESHOLDS, json.dumps(current, indent=2))

    def threshold(self, rule: str | None = None,
                  value: float | None = None) -> tuple[float | None, str]:
        """The threshold to use and its source (see :func:`thresholds.choose_threshold`)."""
        return choose_threshold(self.thresholds(), rule, value)

    def load_model(self, device: str | None = None,
                   cfg: RunConfig | None = None) -> tuple[torch.nn.Module, torch.device]:
        """The trained model (eval mode) on ``device`` (default: the run's device setting).

        Raises:
            RunFolderError: not a run folder. CheckpointError: unsafe, corrupt or mismatched.
        """
        cfg = cfg or self.config()
        state = self.load_checkpoint()
        dev = pick_device(device or cfg.device)
        model = create_model(cfg.model, **cfg.model_kwargs())
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise CheckpointError(
                f"{self.checkpoint_path} does not match its config ({first})") from None
        return model.to(dev).eval(), dev
