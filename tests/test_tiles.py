"""Tiling geometry: tile offsets, full coverage, blended overlaps (golden values by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from mmae.config import parse_set, resolve_config
from mmae.data.tiles import TileGrid, ramp, tile_starts
from mmae.errors import ConfigError
from mmae.tasks import TiledImageTask, get_task


def test_tile_starts_cover_non_divisible_sizes():
    assert tile_starts(10, 4, 0) == [0, 4, 6]  # the last tile is moved back to the edge
    assert tile_starts(12, 4, 0) == [0, 4, 8]
    assert tile_starts(10, 4, 2) == [0, 2, 4, 6]
    assert tile_starts(11, 4, 1) == [0, 3, 6, 7]
    assert tile_starts(3, 4, 1) == [0]  # shorter than a tile: padded
    with pytest.raises(ValueError):
        tile_starts(10, 4, 4)


@pytest.mark.parametrize("h,w,tile,overlap", [(10, 13, 4, 1), (7, 7, 3, 0), (5, 9, 6, 2),
                                              (33, 20, 8, 3)])
def test_every_pixel_is_covered_and_split_stitch_round_trips(h, w, tile, overlap):
    rng = np.random.default_rng(0)
    grid = TileGrid(h, w, tile, overlap)
    image = rng.random((h, w, 2)).astype(np.float32)
    tiles = grid.split(image)
    assert tiles.shape == (len(grid), tile, tile, 2)
    cover = np.zeros((max(h, tile), max(w, tile)), int)
    for y, x in grid.boxes:
        cover[y : y + tile, x : x + tile] += 1
    assert (cover[:h, :w] >= 1).all()
    np.testing.assert_allclose(grid.stitch(tiles), image, rtol=0, atol=1e-6)  # same content
    const = np.full((len(grid), tile, tile), 0.37, np.float32)
    np.testing.assert_allclose(grid.stitch(const), 0.37, rtol=0, atol=1e-7)


def test_overlaps_are_blended_linearly():
    # width 6, tiles of 4 overlapping by 2: columns 0-3 and 2-5
    grid = TileGrid(1, 6, 4, 2)
    assert grid.boxes == [(0, 0), (0, 2)]
    np.testing.assert_allclose(ramp(4, 2), [0.25, 0.75, 0.75, 0.25])
    tiles = np.stack([np.full((4, 4), 1.0), np.full((4, 4), 3.0)])
    # column 2: A weight 0.75, B weight 0.25 -> 1.5; column 3: 0.25 / 0.75 -> 2.5
    np.testing.assert_allclose(grid.stitch(tiles)[0], [1, 1, 1.5, 2.5, 3, 3])
    # no overlap: every pixel from one tile
    grid0 = TileGrid(1, 8, 4, 0)
    np.testing.assert_allclose(grid0.stitch(tiles)[0], [1, 1, 1, 1, 3, 3, 3, 3])


def test_moved_back_last_tile_is_blended_by_its_weights():
    # width 5, tile 4, overlap 2: tiles at 0 and 1 (overlapping by 3)
    grid = TileGrid(1, 5, 4, 2)
    assert grid.boxes == [(0, 0), (0, 1)]
    tiles = np.stack([np.full((4, 4), 0.0), np.full((4, 4), 4.0)])
    wa, wb = ramp(4, 2), ramp(4, 2)
    expected = [0.0] + [4 * wb[k - 1] / (wa[k] + wb[k - 1]) for k in (1, 2, 3)] + [4.0]
    np.testing.assert_allclose(grid.stitch(tiles)[0], expected, rtol=1e-6)
    assert expected[1:4] == pytest.approx([4 * 0.25 / 1.0, 4 * 0.75 / 1.5, 4 * 0.75 / 1.0])


def test_small_images_are_padded_then_cropped():
    grid = TileGrid(3, 2, 4, 1)
    image = np.arange(6, dtype=np.float32).reshape(3, 2)
    tiles = grid.split(image)
    assert tiles.shape == (1, 4, 4)
    assert tiles[0, 3, 3] == image[2, 1]  # edge repeated
    np.testing.assert_array_equal(grid.stitch(tiles), image)


def test_tile_settings_are_checked():
    cfg = resolve_config("mmae", "cpu", parse_set(["tile_size=32", "tile_overlap=8"]))
    assert isinstance(get_task(cfg), TiledImageTask)
    assert type(get_task(resolve_config("mmae", "cpu", {}))).__name__ == "ImageTask"
    bad = resolve_config("mmae", "cpu", parse_set(["tile_size=32", "tile_overlap=32"]))
    with pytest.raises(ConfigError, match="tile_overlap=32"):
        get_task(bad)
    with pytest.raises(ConfigError, match="tile_size"):
        resolve_config("mmae", "cpu", parse_set(["tile_size=-1"]))
    video = resolve_config("mmae3d", "cpu", parse_set(["tile_size=32"]))
    with pytest.raises(ConfigError, match="image models only"):
        get_task(video)


def test_tiled_data_keeps_the_layout_and_its_own_validation_split(tmp_path):
    from conftest import write_tiny_ad2

    from mmae.data.image_io import read_image

    cat = write_tiny_ad2(tmp_path, n_train=5, n_val=3, size=40)
    cfg = resolve_config("mmae", "cpu", parse_set(["tile_size=24", "tile_overlap=8",
                                                   "image_size=16"]), data=str(cat))
    task = get_task(cfg)
    data = task.open("train", progress=False)
    assert data.layout == "mvtec_ad2" and len(data) == 8
    train, val = task.split(data)
    assert sorted(r.path.parent.parent.name for r in val.records) == ["validation"] * 3
    assert {r.path.parent.parent.name for r in train.records} == {"train"}
    img = val.image(0)
    assert img.shape[:2] == (40, 40)  # full resolution, not image_size
    np.testing.assert_array_equal(img, read_image(val.records[0].path, data.channels))
    tiles = task.training_set(train)
    assert len(tiles) == 5 * 4 and tuple(tiles.images.shape[1:]) == (data.channels, 16, 16)
    test = task.open("test", progress=False)
    assert test.layout == "mvtec_ad2" and test.load_mask(len(test) - 1).shape == (40, 40)


def test_full_images_keep_the_base_layout_and_its_validation_split():
    from mmae.data.image_tiles import FullImages

    base = type("Base", (), {"records": [None] * 6, "channels": 1, "layout": "mvtec_ad2",
                             "validation_indices": [1, 4], "__len__": lambda self: 6})()
    full = FullImages(base)
    assert full.layout == "mvtec_ad2"
    assert full.validation_indices == [1, 4]
    sub = full.subset([4, 0, 1])  # positions in the subset, not in the base
    assert sub.validation_indices == [0, 2]
    arrays = FullImages(arrays=[np.zeros((8, 8, 1), np.uint8)], channels=1)
    assert arrays.layout == "arrays" and arrays.validation_indices is None
