"""The data layer's entry point: what a folder holds, its categories, and opening a split.

    kind, layout = detect(root)              # ("image", None) or ("video", "ucsd"), ...
    categories(root, kind)                   # {name: folder}
    describe(root)                           # what `mmae data PATH --json` prints
    open_dataset(root, "train", kind, image_size=64)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmae.errors import ConfigError, DataError


def detect(root: str | Path) -> tuple[str, str | None]:
    """``(kind, layout)`` of a dataset folder: ``("video", layout)`` for a known video layout,
    else ``("image", None)``.

    Raises:
        DataError: the path does not exist.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"data path {root} does not exist")
    from mmae.data.video import detect_video_layout

    layout = detect_video_layout(root) if root.is_dir() else None
    return ("video", layout) if layout is not None else ("image", None)


def describe(root: str | Path, layout: str = "auto") -> dict[str, Any]:
    """JSON-able description of a dataset folder (``mmae data PATH --json``); a ``layout`` other
    than ``auto`` reads the folder as a video dataset of that layout.

    Raises:
        DataError: the path does not exist or holds no usable dataset.
    """
    if layout != "auto" or detect(root)[0] == "video":
        from mmae.data.video import describe_video_dataset

        return describe_video_dataset(Path(root), layout=layout)
    from mmae.data.image import describe_image_dataset

    return describe_image_dataset(Path(root))


def _kind_of_root(root: Path) -> str:
    """``video`` for a video dataset or a folder of video datasets, else ``image``."""
    if detect(root)[0] == "video":
        return "video"
    from mmae.data.layouts import image_layout
    from mmae.data.video import detect_video_layout

    if image_layout(root) != "folder":
        return "image"
    subs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    return "video" if any(detect_video_layout(d) is not None for d in subs) else "image"


def categories(root: str | Path, kind: str | None = None) -> dict[str, Path]:
    """The categories of a dataset root: name -> folder (``kind`` None: found from the folder).

    Images: a category of a known layout (MVTec AD, MVTec AD 2, VisA) or a generic image folder
    is one category; a folder of categories of one layout gives each. Video: a dataset folder
    (UCSD, Avenue, ShanghaiTech, frames layout) is one; a folder of several gives each.

    Raises:
        DataError: the root is missing, or (video) holds no video dataset.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--data {root} does not exist or is not a folder")
    kind = kind or _kind_of_root(root)
    if kind == "image":
        from mmae.data.layouts import image_categories

        return image_categories(root)
    from mmae.data.video import LAYOUTS, detect_video_layout

    if detect_video_layout(root) is not None:
        return {root.name: root}
    inner = {d.name: d for d in sorted(root.iterdir())
             if d.is_dir() and not d.name.startswith(".") and detect_video_layout(d) is not None}
    if not inner:
        raise DataError(f"--data {root} is not a video dataset ({', '.join(LAYOUTS)} layout) "
                        f"nor a folder of video datasets")
    return inner


def open_dataset(root: str | Path, split: str, kind: str, image_size: int,
                 channels: int | None = None, video_layout: str = "auto",
                 label_source: str | None = None, cache_dir: Path | None = None,
                 progress: bool = True) -> Any:
    """One split of a dataset: an ``ImageDataset`` or a ``VideoDataset`` (square frames).

    Raises:
        ConfigError: the folder's kind differs from ``kind``. DataError: no usable dataset.
    """
    found, layout = detect(root)
    if kind == "image" and found == "video":
        raise ConfigError(f"{root} is a video dataset ({layout} layout) but the model is an "
                          f"image model; use mmae3d, memae3d or ae3d")
    if kind == "video" and found != "video" and video_layout == "auto":
        raise DataError(f"{root} is not a video dataset in a known layout (ucsd, avenue, "
                        f"shanghaitech, frames); the model is a video model")
    if kind == "image":
        from mmae.data.image import open_image_dataset

        return open_image_dataset(Path(root), split, image_size=image_size, channels=channels,
                                  cache_dir=cache_dir, progress=progress)
    from mmae.data.video import open_video_dataset

    return open_video_dataset(Path(root), split, layout=video_layout, label_source=label_source,
                              frame_size=(image_size, image_size), cache_dir=cache_dir)
