"""User-facing errors.

Anything a user can cause (a bad file, a wrong option, a missing folder) raises a subclass of
:class:`MMAEError` with one clear line naming the file or option and what is wrong. The CLI turns it
into ``mmae: error: <message>`` and exit code 2 (a traceback only with ``--debug``).
"""

from __future__ import annotations


class MMAEError(Exception):
    """Base class of every error caused by user input; the CLI exits with code 2."""


class DataError(MMAEError):
    """A dataset, image, video, mask or label file is missing, unreadable or inconsistent."""


class ConfigError(MMAEError):
    """An unknown model, preset or setting name, or an out-of-range value."""


class CheckpointError(MMAEError):
    """A checkpoint is missing, corrupt, unsafe (arbitrary pickled objects) or incompatible."""


class RunFolderError(MMAEError):
    """A run or output folder exists and would be overwritten, or is not a run folder."""


class LimitError(DataError):
    """An input over a size limit (``--max-pixels``, ``--max-frames``): refused before it is
    decoded; ``mmae serve`` answers 413."""
