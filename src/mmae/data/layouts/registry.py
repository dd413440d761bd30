"""Finding the images, labels and masks of an image dataset folder (no decoding): the registry
of image layouts.

Each layout is one module producing the same :class:`~mmae.data.layouts.records.ImageScan`:

* ``mvtec_ad2`` - an MVTec AD 2 category (:mod:`mmae.data.layouts.mvtec_ad2`);
* ``mvtec`` - an MVTec AD category (:mod:`mmae.data.layouts.mvtec`);
* ``visa`` - a VisA category, split by the VisA root's ``split_csv/1cls.csv``
  (:mod:`mmae.data.layouts.visa`);
* ``<layout>_root`` (``mvtec_root``, ``mvtec_ad2_root``, ``visa_root``) - a folder of categories of
  that layout; open one category (``category=``);
* ``folder`` - anything else (:mod:`mmae.data.layouts.folder`).

Detection looks at folder names only, in the order above, so a partial tree of a known layout is
still recognised and its scan raises one DataError naming what is missing. Junk is ignored
everywhere: hidden files, ``._*`` AppleDouble files, ``.DS_Store``, non-image extensions. Files are
sorted by relative path, so record order is deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from mmae.data.layouts import folder, mvtec, mvtec_ad2, visa
from mmae.data.layouts.folder import ANOMALOUS_DIR_NAMES, MASK_DIR_NAMES, NORMAL_DIR_NAMES
from mmae.data.layouts.records import ImageRecord, ImageScan, check_dir, subdirs
from mmae.errors import DataError

__all__ = ["ANOMALOUS_DIR_NAMES", "LAYOUTS", "MASK_DIR_NAMES", "NORMAL_DIR_NAMES", "SPLITS",
           "ImageRecord", "ImageScan", "Layout", "get_layout", "image_categories",
           "image_layout", "is_mvtec_category", "mvtec_categories", "scan_image_split"]

SPLITS = ("train", "test")
ROOT_SUFFIX = "_root"


@dataclass(frozen=True)
class Layout:
    """A dataset layout whose categories are folders.

    Attributes:
        name: layout name (``mmae data`` shows it; ``<name>_root`` for a folder of categories).
        title: the dataset's name for messages.
        is_category: whether a folder looks like one category (complete or not).
        check: raises one DataError naming what an incomplete category lacks.
        scan: ``(category, split) -> ImageScan``.
        predict_folders: unlabelled folders of a category that ``mmae predict`` scores when
            given the category (None: the layout has none).
    """

    name: str
    title: str
    is_category: Callable[[Path], bool]
    check: Callable[[Path], None]
    scan: Callable[[Path, str], ImageScan]
    predict_folders: Callable[[Path], list[Path]] | None = None

    @classmethod
    def from_module(cls, module: ModuleType) -> Layout:
        """The layout a ``layout_*`` module defines (``predict_folders`` is optional)."""
        return cls(module.NAME, module.TITLE, module.is_category, module.check, module.scan,
                   getattr(module, "predict_folders", None))


#: The dataset layouts, in detection order (MVTec AD 2 before MVTec AD: both have train/good).
LAYOUTS: tuple[Layout, ...] = tuple(
    Layout.from_module(m) for m in (mvtec_ad2, mvtec, visa))
_BY_NAME = {lay.name: lay for lay in LAYOUTS}


def get_layout(name: str) -> Layout | None:
    """The dataset layout ``name`` (``_root`` suffix allowed); None for ``folder``."""
    return _BY_NAME.get(name.removesuffix(ROOT_SUFFIX))


def _category_layout(root: Path) -> Layout | None:
    return next((lay for lay in LAYOUTS if lay.is_category(root)), None)


def _root_categories(root: Path) -> tuple[Layout, list[str]] | None:
    """The first layout with categories directly inside ``root``, and their names."""
    if not root.is_dir():
        return None
    dirs = subdirs(root)
    for lay in LAYOUTS:
        names = [d.name for d in dirs if _category_layout(d) is lay]
        if names:
            return lay, names
    return None


def is_mvtec_category(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` looks like an MVTec AD category (``train/good`` or ``test/good``)."""
    return mvtec.is_category(Path(root))


def mvtec_categories(root: str | os.PathLike[str]) -> list[str]:
    """Names of the MVTec AD category folders directly inside ``root`` (sorted)."""
    r = Path(root)
    if not r.is_dir():
        return []
    return [p.name for p in subdirs(r) if _category_layout(p) is _BY_NAME["mvtec"]]


def image_layout(root: str | os.PathLike[str]) -> str:
    """Layout of an image dataset folder: ``mvtec``, ``mvtec_ad2``, ``visa``, one of these with
    ``_root`` (a folder of categories) or ``folder``.

    Raises:
        DataError: ``root`` does not exist or is not a folder.
    """
    r = Path(root)
    check_dir(r)
    lay = _category_layout(r)
    if lay is not None:
        return lay.name
    found = _root_categories(r)
    if found is not None:
        return found[0].name + ROOT_SUFFIX
    if visa.is_root(r):
        raise DataError(f"{r} has the VisA split file {visa.SPLIT_FILE} but no VisA "
                        f"category folder (<category>/Data/Images)")
    return folder.NAME


def image_categories(root: str | os.PathLike[str]) -> dict[str, Path]:
    """Categories of an image dataset folder: name -> folder. A category of a known layout or a
    generic folder is one category; a folder of categories gives each.

    Raises:
        DataError: ``root`` does not exist or is not a folder.
    """
    r = Path(root)
    check_dir(r)
    if _category_layout(r) is None:
        found = _root_categories(r)
        if found is not None:
            return {name: r / name for name in found[1]}
    return {r.name: r}


def predict_folders(root: str | os.PathLike[str]) -> list[Path] | None:
    """The unlabelled folders ``mmae predict`` scores when given a category folder of a layout
    that has them (MVTec AD 2: ``test_private``, ``test_private_mixed``); None otherwise."""
    r = Path(root)
    lay = _category_layout(r) if r.is_dir() else None
    if lay is None or lay.predict_folders is None:
        return None
    return lay.predict_folders(r)


def scan_image_split(root: str | os.PathLike[str], split: str, *, category: str | None = None,
                     abnormal_dir: str | os.PathLike[str] | None = None,
                     mask_dir: str | os.PathLike[str] | None = None,
                     normal_test_dir: str | os.PathLike[str] | None = None,
                     holdout: float = 0.2) -> ImageScan:
    """Records of one split of an image dataset folder (see the module docstring for layouts).

    Args:
        root: a category of a known layout, a folder of such categories (with ``category``), or
            a generic folder.
        split: ``"train"`` or ``"test"``.
        category: category to open inside a folder of categories.
        abnormal_dir: folder of anomalous images (generic layout).
        mask_dir: folder of masks matched by stem (generic layout).
        normal_test_dir: folder of normal test images (generic layout); disables the holdout.
        holdout: fraction of normal images held out for testing when a generic folder has
            anomalous images and no ``normal_test_dir``.

    Raises:
        DataError: missing path or folder, empty folder, a folder of categories without a
            category, no test data.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use 'train' or 'test'")
    r = Path(root)
    layout = image_layout(r)
    if layout.endswith(ROOT_SUFFIX):
        lay = get_layout(layout)
        cats = list(image_categories(r))
        if category is None:
            article = "an" if lay.title[0] in "AEIMOU" else "a"  # an MVTec AD, a VisA
            raise DataError(f"{r} is {article} {lay.title} root with categories {', '.join(cats)}: "
                            f"pick one, e.g. {r / cats[0]}")
        if category not in cats:
            raise DataError(f"{r}: no category {category!r} (categories: {', '.join(cats)})")
        r, layout = r / category, lay.name
    elif category is not None and (r / category).is_dir():
        r, layout = r / category, image_layout(r / category)
    lay = get_layout(layout)
    if lay is not None:
        return lay.scan(r, split)
    opt = [Path(p) if p is not None else None for p in (abnormal_dir, mask_dir, normal_test_dir)]
    return folder.scan(r, split, opt[0], opt[1], opt[2], holdout)
