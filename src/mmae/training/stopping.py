"""When the training loop writes a checkpoint, and stopping it cleanly on SIGTERM / SIGINT.

:class:`SaveClock` decides after each step: every ``save_every_s`` seconds of wall clock (mid-epoch
too), every ``save_every`` epochs (when set), and always at the end. :class:`StopSignals` turns
SIGTERM and SIGINT into a request the loop sees after its current step: it writes the checkpoint
and raises :class:`TrainingStopped`, whose message says how to resume. A second SIGINT
interrupts at once (``KeyboardInterrupt``).
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType, TracebackType
from typing import Any

from mmae.errors import MMAEError


class TrainingStopped(MMAEError):
    """Training was stopped by a signal after writing its checkpoint (the message says how to
    resume)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class SaveClock:
    """Checkpoint cadence: wall clock and/or epochs.

    Args:
        every_s: Seconds between checkpoints (0: off).
        every_epochs: Epochs between checkpoints (0: off).
    """

    def __init__(self, every_s: float = 600.0, every_epochs: int = 0) -> None:
        self.every_s = float(every_s)
        self.every_epochs = int(every_epochs)
        self.last = time.monotonic()

    def saved(self) -> None:
        """A checkpoint was just written."""
        self.last = time.monotonic()

    def due_by_time(self) -> bool:
        """Whether ``every_s`` seconds have passed since the last checkpoint."""
        return self.every_s > 0 and time.monotonic() - self.last >= self.every_s

    def due_at_epoch_end(self, epochs_done: int, epochs: int) -> bool:
        """Whether the end of epoch ``epochs_done`` (1-based) gets a checkpoint."""
        return (epochs_done == epochs or self.due_by_time()
                or (self.every_epochs > 0 and epochs_done % self.every_epochs == 0))


class StopSignals:
    """Context manager: SIGTERM / SIGINT set :attr:`signum` instead of ending the process.

    Handlers are installed only in the main thread (elsewhere this is a no-op); the previous
    handlers come back on exit.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def stopped_message(signum: int, run: str, epochs_done: int, step: int, steps: int) -> str:
    """The line printed when a signal stopped training: where, and how to resume.

    Args:
        epochs_done: Whole epochs done; ``step`` of ``steps`` of the next one (0: at its start).
    """
    name = signal.Signals(signum).name
    where = (f"after epoch {epochs_done}" if step == 0
             else f"after step {step}/{steps} of epoch {epochs_done + 1}")
    return (f"stopped by {name} {where}; checkpoint written to {run}; "
            f"resume with: mmae train --resume {run}")
