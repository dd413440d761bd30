"""One :class:`Task` per modality; :func:`get_task` is the only place that looks at the kind."""

from __future__ import annotations

from mmae.config import RunConfig
from mmae.models.registry import get_spec
from mmae.tasks.base import Task, batch_input
from mmae.tasks.image import ImageTask
from mmae.tasks.video import VideoTask

TASKS: dict[str, type[Task]] = {"image": ImageTask, "video": VideoTask}


def get_task(cfg: RunConfig) -> Task:
    """The task of a run (from its model's kind)."""
    return TASKS[get_spec(cfg.model).kind](cfg)


__all__ = ["TASKS", "ImageTask", "Task", "VideoTask", "batch_input", "get_task"]
