"""The tiles, gravel, pcb and grass synthetic categories: old categories untouched, layout,
defects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mmae.benchmark.tables import category_group
from mmae.data.image import open_image_dataset
from mmae.data.synth.image import (
    HARD_CATEGORIES,
    SYNTH_IMAGE_CATEGORIES,
    SYNTH_IMAGE_DEFECTS,
    generate_synthetic_images,
    parse_synth_categories,
    render_synthetic_image,
)
from mmae.data.synth.image_grass import GRASS_RENDER
from mmae.data.synth.image_pcb import PCB_RENDER
from mmae.data.synth.image_textures import TEXTURE_RENDER
from mmae.errors import ConfigError

NEW = ("tiles", "gravel", "pcb", "grass")
RENDER = {**TEXTURE_RENDER, **PCB_RENDER, **GRASS_RENDER}
SMALL = {"image_size": 48, "n_train": 4, "n_test": 8}
# sha256 (first 16 hex digits) of the pixels and masks of every old category, seed 7, 48 px,
# images 0 and 1 of every kind, recorded from the generator before tiles, gravel and pcb existed
OLD_DIGESTS = {"disc": "9d1195e20685a115", "fabric": "908fb7e1e2351453",
               "grid": "3c5e40b536e2a975", "nut": "6aa97e33436ee3b6",
               "carpet": "44f180c018b9ac64", "screw": "87422255be5320fc"}


def _digest(category: str) -> str:
    h = hashlib.sha256()
    for defect in (None, *SYNTH_IMAGE_DEFECTS[category]):
        for i in range(2):
            img, mask = render_synthetic_image(category, 7, i, defect, 48)
            h.update(img.tobytes())
            h.update(mask.tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("category", sorted(OLD_DIGESTS))
def test_old_categories_unchanged(category: str) -> None:
    assert _digest(category) == OLD_DIGESTS[category]


def test_names_groups_and_parsing() -> None:
    assert SYNTH_IMAGE_CATEGORIES[:6] == ("disc", "fabric", "grid", "nut", "carpet", "screw")
    assert HARD_CATEGORIES == ("carpet", "screw", *NEW)
    assert [category_group(c) for c in NEW] == ["textures", "textures", "objects", "textures"]
    assert parse_synth_categories(None) == len(SYNTH_IMAGE_CATEGORIES)
    assert parse_synth_categories("3") == 3
    assert parse_synth_categories("tiles, PCB,tiles") == ["tiles", "pcb"]
    assert parse_synth_categories("disc,hard") == ["disc", *HARD_CATEGORIES]
    for bad in ("0", "99", "tile", "hard,nope"):
        with pytest.raises(ConfigError):
            parse_synth_categories(bad)


def test_new_categories_deterministic_and_load(tmp_path: Path) -> None:
    a = generate_synthetic_images(tmp_path / "a", seed=2, categories=list(NEW), **SMALL)
    generate_synthetic_images(tmp_path / "b", seed=2, categories=list(NEW), **SMALL)
    fa = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.png")}
    fb = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*.png")}
    assert fa == fb and len(fa) == len(NEW) * (4 + 8 + 4)
    for cat in a:
        test = open_image_dataset(cat, "test", 32, progress=False)
        assert test.channels == 3 and len(test) == 8 and int(test.labels.sum()) == 4
        assert test.masks_complete
        for i, r in enumerate(test.records):
            assert test.load_mask(i).any() == (r.label == 1)


@pytest.mark.parametrize("category", NEW)
def test_new_defects_small_local_and_not_the_brightest(category: str) -> None:
    render = RENDER[category]
    for defect in SYNTH_IMAGE_DEFECTS[category]:
        for i in range(4):
            # same generator state: the defect image is the normal image plus the defect
            bad, mask = render(np.random.default_rng([1, i]), 128, defect)
            good, none = render(np.random.default_rng([1, i]), 128, None)
            assert not none.any() and mask.any(), (defect, i)
            diff = np.abs(bad - good).max(axis=-1)
            assert not diff[~mask].any(), (defect, i)  # changed only inside the mask
            assert float(diff[mask].mean()) >= 0.03, (defect, i)  # visible
            assert mask.mean() <= 0.04, (defect, i, mask.mean())  # small
            # as written (too small a draw is redrawn): small, and not the brightest pixels
            img, written = render_synthetic_image(category, 1, i, defect, 128)
            assert 0.0014 <= written.mean() <= 0.04, (defect, i, written.mean())
            luma = img.astype(float).mean(axis=-1)
            assert np.percentile(luma[written], 90) < luma[~written].max(), (defect, i)


@pytest.mark.parametrize("category", NEW)
def test_normal_images_vary(category: str) -> None:
    imgs = [render_synthetic_image(category, 0, i, None, 64)[0].astype(float) for i in range(4)]
    for j in range(1, 4):
        assert np.abs(imgs[0] - imgs[j]).mean() > 4.0


def test_cli_picks_categories_by_name(tmp_path: Path) -> None:
    from mmae.cli.main import main

    assert main(["synth", "image", str(tmp_path / "a"), "--only", "pcb", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["pcb"]
    assert main(["synth", "image", str(tmp_path / "b"), "--categories", "tile", "--quiet"]) == 2
