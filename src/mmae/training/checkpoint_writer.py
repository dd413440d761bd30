"""Checkpoints written in a background thread while training goes on.

Serialising and fsyncing a checkpoint (model and Adam state: three times the weights) takes about
as long as several training steps of a small model, so the training loop hands the state to a
:class:`CheckpointWriter` and computes the next batch meanwhile. The state's tensors are not
copied: the caller calls :meth:`CheckpointWriter.wait` before it changes them again (the training
loop: before the next optimizer step), so a checkpoint is complete on disk before the weights move
past it. Tensors that change in ``forward`` (e.g. BatchNorm statistics) must be passed as copies;
:func:`model_state` does that.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from torch import nn

from mmae.runs.checkpoint import save_checkpoint


def model_state(model: nn.Module) -> dict[str, Any]:
    """``model.state_dict()`` with the buffers copied; parameters are shared (they change only in
    an optimizer step)."""
    buffers = {name for name, _ in model.named_buffers()}
    return {k: v.clone() if k in buffers else v for k, v in model.state_dict().items()}


class CheckpointWriter:
    """At most one checkpoint write in flight, in a background thread."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, path: Path, state: dict[str, Any]) -> None:
        """Start writing ``state`` to ``path`` (after the previous write has finished)."""
        self.wait()

        def work() -> None:
            try:
                save_checkpoint(path, state)
            except BaseException as exc:  # re-raised in the training thread by wait()
                self._error = exc

        self._thread = threading.Thread(target=work, name="mmae-checkpoint", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Block until the pending write (if any) is on disk; re-raise its error."""
        if self._thread is None:
            return
        self._thread.join()
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
