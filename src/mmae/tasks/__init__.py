"""One :class:`Task` per modality; :func:`get_task` is the only place that looks at the kind."""

from __future__ import annotations

from mmae.config import RunConfig
from mmae.models.registry import get_spec
from mmae.scoring.tiled import tiling
from mmae.tasks.base import Task, batch_input
from mmae.tasks.image import ImageTask
from mmae.tasks.image_tiled import TiledImageTask
from mmae.tasks.video import VideoTask

TASKS: dict[str, type[Task]] = {"image": ImageTask, "video": VideoTask}


def get_task(cfg: RunConfig) -> Task:
    """The task of a run (from its model's kind; :class:`TiledImageTask` with ``tile_size``).

    Raises:
        ConfigError: tiles for a video model, or an overlap not smaller than the tile.
    """
    if tiling(cfg) is not None:
        return TiledImageTask(cfg)
    return TASKS[get_spec(cfg.model).kind](cfg)


__all__ = ["TASKS", "ImageTask", "Task", "TiledImageTask", "VideoTask", "batch_input", "get_task"]
