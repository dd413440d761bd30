"""Synthetic image generator: determinism, MVTec layout validity, masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmae.benchmark.tables import category_group
from mmae.data.image import open_image_dataset
from mmae.data.layouts import image_layout, mvtec_categories
from mmae.data.synth.image import (
    SYNTH_IMAGE_CATEGORIES,
    SYNTH_IMAGE_DEFECTS,
    generate_synthetic_images,
    render_synthetic_image,
)
from mmae.data.synth.image_hard import HARD_DEFECTS, HARD_RENDER
from mmae.errors import ConfigError, RunFolderError

SMALL = {"image_size": 48, "n_train": 6, "n_test": 8}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_identical_bytes_different_seed_differs(tmp_path: Path) -> None:
    a = generate_synthetic_images(tmp_path / "a", seed=3, categories=2, **SMALL)
    generate_synthetic_images(tmp_path / "b", seed=3, categories=2, **SMALL)
    generate_synthetic_images(tmp_path / "c", seed=4, categories=2, **SMALL)
    assert [p.name for p in a] == list(SYNTH_IMAGE_CATEGORIES[:2])
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert fa == fb
    assert fa.keys() == fc.keys()
    assert sum(fa[k] != fc[k] for k in fa) > len(fa) // 2


def test_layout_loads_with_masks(tmp_path: Path) -> None:
    cats = generate_synthetic_images(tmp_path, seed=0, categories=len(SYNTH_IMAGE_CATEGORIES),
                                     **SMALL)
    assert image_layout(tmp_path) == "mvtec_root"
    assert mvtec_categories(tmp_path) == sorted(SYNTH_IMAGE_CATEGORIES)
    for cat in cats:
        train = open_image_dataset(cat, "train", 32, progress=False)
        assert len(train) == 6 and train.channels == (1 if cat.name == "grid" else 3)
        test = open_image_dataset(cat, "test", 32, progress=False)
        assert len(test) == 8 and int(test.labels.sum()) == 4
        assert test.masks_complete
        assert {r.defect for r in test.records} == {"good", *SYNTH_IMAGE_DEFECTS[cat.name]}
        for i, r in enumerate(test.records):
            m = test.load_mask(i)
            assert m.shape == (48, 48)
            assert m.any() == (r.label == 1)


@pytest.mark.parametrize("category", SYNTH_IMAGE_CATEGORIES)
def test_defects_change_exactly_masked_pixels_and_are_visible(category: str) -> None:
    for defect in SYNTH_IMAGE_DEFECTS[category]:
        for i in range(3):
            img, mask = render_synthetic_image(category, 0, i, defect, 128)
            assert mask.dtype == bool and mask.shape == (128, 128)
            assert mask.sum() >= 24, (category, defect, i)
            assert img.dtype == np.uint8 and img.shape[:2] == (128, 128)
    normal, nmask = render_synthetic_image(category, 0, 0, None, 128)
    assert not nmask.any()
    # normal images vary (jitter) but stay similar: defects must stand out more than that
    other, _ = render_synthetic_image(category, 0, 1, None, 128)
    assert not np.array_equal(normal, other)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        generate_synthetic_images(tmp_path, categories=0)
    with pytest.raises(ConfigError):
        generate_synthetic_images(tmp_path, categories=["nope"])
    with pytest.raises(ConfigError):
        generate_synthetic_images(tmp_path, image_size=8)
    with pytest.raises(ConfigError):
        render_synthetic_image("disc", 0, 0, "hole")
    generate_synthetic_images(tmp_path, categories=["grid"], **SMALL)
    with pytest.raises(RunFolderError):
        generate_synthetic_images(tmp_path, categories=["grid"], **SMALL)
    generate_synthetic_images(tmp_path, categories=["grid"], overwrite=True, **SMALL)


# -- the harder categories (carpet, screw) -------------------------------------------------
HARD = ("carpet", "screw")


def test_hard_categories_follow_the_easy_four() -> None:
    assert SYNTH_IMAGE_CATEGORIES[:6] == ("disc", "fabric", "grid", "nut", *HARD)
    assert set(HARD_DEFECTS) == set(HARD)
    assert category_group("carpet") == "textures" and category_group("screw") == "objects"


def test_hard_categories_deterministic_and_load(tmp_path: Path) -> None:
    a = generate_synthetic_images(tmp_path / "a", seed=5, categories=list(HARD), **SMALL)
    generate_synthetic_images(tmp_path / "b", seed=5, categories=list(HARD), **SMALL)
    generate_synthetic_images(tmp_path / "c", seed=6, categories=list(HARD), **SMALL)
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert fa == fb and fa.keys() == fc.keys()
    assert sum(fa[k] != fc[k] for k in fa) > len(fa) // 2
    assert mvtec_categories(tmp_path / "a") == sorted(HARD)
    for cat in a:
        test = open_image_dataset(cat, "test", 32, progress=False)
        assert test.channels == 3 and len(test) == 8 and int(test.labels.sum()) == 4
        assert test.masks_complete
        assert {r.defect for r in test.records} == {"good", *HARD_DEFECTS[cat.name]}
        for i, r in enumerate(test.records):
            assert test.load_mask(i).any() == (r.label == 1)


@pytest.mark.parametrize("category", HARD)
def test_hard_defects_are_subtle_but_present_and_exactly_masked(category: str) -> None:
    render = HARD_RENDER[category]
    for defect in HARD_DEFECTS[category]:
        for i in range(6):
            # same generator state: the defect image is the normal image plus the defect
            bad, mask = render(np.random.default_rng([0, i]), 128, defect)
            good, none = render(np.random.default_rng([0, i]), 128, None)
            assert not none.any() and mask.any(), (defect, i)
            diff = np.abs(bad - good).mean(axis=-1)
            assert not diff[~mask].any(), (defect, i)  # changed only inside the mask
            inside = float(diff[mask].mean())
            assert 0.05 <= inside <= 0.35, (defect, i, inside)  # present, low contrast
            assert mask.sum() <= 0.05 * 128 * 128, (defect, i)  # small
    # normal images vary more than the easy categories' (pose / texture differs per image)
    a, _ = render_synthetic_image(category, 0, 0, None, 128)
    b, _ = render_synthetic_image(category, 0, 1, None, 128)
    assert np.abs(a.astype(float) - b.astype(float)).mean() > 2.0
