"""One :class:`Task` per modality; :func:`get_task` is the only place that looks at the kind."""

from __future__ import annotations

from mmae.engine.config import RunConfig
from mmae.engine.tasks.base import Task, batch_input
from mmae.engine.tasks.image import ImageTask
from mmae.engine.tasks.video import VideoTask
from mmae.models.registry import get_spec

TASKS: dict[str, type[Task]] = {"image": ImageTask, "video": VideoTask}


def get_task(cfg: RunConfig) -> Task:
    """The task of a run (from its model's kind)."""
    return TASKS[get_spec(cfg.model).kind](cfg)


__all__ = ["TASKS", "ImageTask", "Task", "VideoTask", "batch_input", "get_task"]
