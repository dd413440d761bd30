"""Training data kept on the training device, as uint8, and batches indexed there.

A training set that fits is copied to the device once, as the uint8 pixels the datasets hold
(images ``(N, C, S, S)``; video frames concatenated ``(F, H, W)`` with each clip's first frame),
and every batch is gathered and converted to float on the device: no host-to-device copy per step.
The conversion is the datasets' own (images ``/ 255``, clips ``(x - 127.5) / 127.5``, in float32),
so a batch is bit-identical to ``get_batch`` / the DataLoader's.

Each epoch's order is one index tensor (a pure function of ``(seed, epoch)``), copied to the
device once per epoch (pinned, ``non_blocking``) and sliced per step.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Subset

from mmae.training.seed import epoch_generator

# Share of the device's free memory (host RAM on the CPU, where images are used in place and
# only a validation split's part or video frames are copied) resident data may take.
DEVICE_SHARE = 0.25


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> Tensor:
    """This rank's sample order of epoch ``epoch`` (int64, CPU): a pure function of its inputs."""
    perm = torch.randperm(n, generator=epoch_generator(seed, epoch))
    return perm[rank::world_size].contiguous()


def _unwrap(ds: Any) -> tuple[Any, list[int] | None]:
    """``(dataset, indices or None)`` of a dataset or a :class:`Subset` of one."""
    if isinstance(ds, Subset):
        return ds.dataset, list(ds.indices)
    return ds, None


def _free_bytes(device: torch.device) -> int | None:
    """Free memory of the device (host RAM for the CPU); None where unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _fits(nbytes: int, device: torch.device) -> bool:
    """Whether a copy of ``nbytes`` takes at most :data:`DEVICE_SHARE` of the free memory."""
    free = _free_bytes(device)
    return free is None or nbytes <= DEVICE_SHARE * free


def _to_device(t: Tensor, device: torch.device) -> Tensor:
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class ResidentData:
    """The training inputs on one device; ``batch(idx)`` gives float model inputs.

    Build with :meth:`from_dataset` (None when the data does not fit or has no uint8 form).
    """

    def __init__(self, pixels: Tensor, kind: str, starts: Tensor | None = None,
                 clip_length: int = 0) -> None:
        self.pixels = pixels
        self.kind = kind
        self.starts = starts
        self.offsets = (torch.arange(clip_length, device=pixels.device)
                        if kind == "clip" else None)

    def __len__(self) -> int:
        return len(self.starts) if self.starts is not None else len(self.pixels)

    @property
    def device(self) -> torch.device:
        return self.pixels.device

    def order(self, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> Tensor:
        """:func:`epoch_order` on this data's device (one copy per epoch)."""
        return _to_device(epoch_order(len(self), seed, epoch, rank, world_size), self.device)

    def batch(self, idx: Tensor) -> Tensor:
        """Float inputs of samples ``idx`` (a device tensor); no host synchronisation."""
        if self.kind == "image":
            return self.pixels.index_select(0, idx).to(torch.float32).div_(255.0)
        frames = self.starts.index_select(0, idx)[:, None] + self.offsets  # (B, T)
        clips = self.pixels.index_select(0, frames.reshape(-1))
        clips = clips.view(len(idx), len(self.offsets), *self.pixels.shape[1:])
        return clips.to(torch.float32).sub_(127.5).div_(127.5).unsqueeze(1)

    @classmethod
    def from_dataset(cls, ds: Any, device: torch.device) -> ResidentData | None:
        """The resident form of a training set (an image dataset or a clip dataset, or a Subset
        of one), or None: unknown form, or more than :data:`DEVICE_SHARE` of free memory."""
        base, index = _unwrap(ds)
        images = getattr(base, "images", None)
        if isinstance(images, Tensor) and images.dtype == torch.uint8:
            nbytes = images.element_size() * (len(index) if index is not None else len(images)) \
                * int(np.prod(images.shape[1:]))
            copied = device.type == "cuda" or index is not None  # else used in place
            if copied and not _fits(nbytes, device):
                return None
            pixels = images[torch.as_tensor(index)] if index is not None else images
            return cls(_to_device(pixels.contiguous(), device), "image")
        clip_index = getattr(base, "clip_index", None)
        videos = getattr(base, "videos", None)
        if index is None and clip_index is not None and hasattr(videos, "frames"):
            used = sorted({v for v, _ in clip_index})
            frames = [np.asarray(videos.frames(v)) for v in used]
            if not frames or any(f.dtype != np.uint8 for f in frames):
                return None
            if not _fits(sum(f.nbytes for f in frames), device):
                return None
            first, total = {}, 0
            for v, f in zip(used, frames, strict=True):
                first[v], total = total, total + len(f)
            starts = torch.tensor([first[v] + s for v, s in clip_index], dtype=torch.int64)
            pixels = torch.from_numpy(np.concatenate(frames))
            return cls(_to_device(pixels, device), "clip", _to_device(starts, device),
                       base.clip_length)
        return None
