"""Image loaders on generated fixtures: MVTec layout, generic folders, bad files, caching."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmae.data.describe_image import describe_image_dataset
from mmae.data.image import ImageDataset, open_image_dataset
from mmae.data.image_io import list_image_files, read_image, read_mask
from mmae.data.layouts import ImageRecord, image_layout, scan_image_split
from mmae.errors import DataError

S = 24


def _img(rng: np.random.Generator, gray: bool, size: tuple[int, int] = (S, S)) -> Image.Image:
    arr = rng.integers(60, 200, (*size, 1 if gray else 3), dtype=np.uint8)
    return Image.fromarray(arr[..., 0] if gray else arr)


def _mask(size: tuple[int, int] = (S, S)) -> Image.Image:
    m = np.zeros(size, np.uint8)
    m[4:10, 5:12] = 255
    return Image.fromarray(m)


def _junk(folder: Path) -> None:
    (folder / ".DS_Store").write_bytes(b"\x00\x01junk")
    (folder / "._x.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (folder / "notes.txt").write_text("not an image")


def make_mvtec(root: Path, gray: bool = False, n_train: int = 5) -> Path:
    """A tiny MVTec AD category with junk files, good test images without masks."""
    rng = np.random.default_rng(0)
    for sub in ("train/good", "test/good", "test/crack", "test/hole", "ground_truth/crack",
                "ground_truth/hole"):
        (root / sub).mkdir(parents=True)
    for i in range(n_train):
        _img(rng, gray).save(root / "train" / "good" / f"{i:03d}.png")
    for i in range(3):
        _img(rng, gray).save(root / "test" / "good" / f"{i:03d}.png")
    for d in ("crack", "hole"):
        for i in range(2):
            _img(rng, gray).save(root / "test" / d / f"{i:03d}.png")
            _mask().save(root / "ground_truth" / d / f"{i:03d}_mask.png")
    for sub in ("train/good", "test/good", "test/crack", "ground_truth/crack", ""):
        _junk(root / sub)
    return root


def test_mvtec_layout_records_and_masks(tmp_path: Path) -> None:
    cat = make_mvtec(tmp_path / "cat")
    assert image_layout(cat) == "mvtec"
    train = open_image_dataset(cat, "train", image_size=16, progress=False)
    assert len(train) == 5 and train.channels == 3 and train.layout == "mvtec"
    item = train[0]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert item["label"] == 0 and item["index"] == 0
    test = open_image_dataset(cat, "test", image_size=16, progress=False)
    assert [r.defect for r in test.records] == ["crack"] * 2 + ["good"] * 3 + ["hole"] * 2
    assert test.labels.tolist() == [1, 1, 0, 0, 0, 1, 1]
    assert test.masks_complete
    for i, r in enumerate(test.records):
        m = test.load_mask(i)
        assert m.dtype == bool and m.shape == (S, S) == test.original_size(i)
        assert m.any() == (r.label == 1)
        assert (r.mask_path is None) == (r.label == 0)


def test_mvtec_grayscale_auto_and_forced_channels(tmp_path: Path) -> None:
    cat = make_mvtec(tmp_path / "g", gray=True)
    assert open_image_dataset(cat, "train", 8, progress=False).channels == 1
    forced = open_image_dataset(cat, "train", 8, channels=3, progress=False)
    assert forced.images.shape == (5, 3, 8, 8)
    assert torch.equal(forced.images[:, 0], forced.images[:, 2])
    rgb = make_mvtec(tmp_path / "c")
    assert open_image_dataset(rgb, "train", 8, channels=1, progress=False).channels == 1


def test_mvtec_root_lists_categories(tmp_path: Path) -> None:
    make_mvtec(tmp_path / "root" / "b")
    make_mvtec(tmp_path / "root" / "a")
    root = tmp_path / "root"
    assert image_layout(root) == "mvtec_root"
    with pytest.raises(DataError, match="pick one") as exc:
        open_image_dataset(root, "train", 8, progress=False)
    assert "a, b" in str(exc.value)
    assert len(open_image_dataset(root, "train", 8, category="b", progress=False)) == 5
    desc = describe_image_dataset(root)
    assert desc["layout"] == "mvtec_root" and desc["categories"] == ["a", "b"]


def test_describe_mvtec(tmp_path: Path) -> None:
    cat = make_mvtec(tmp_path / "cat", gray=True)
    d = describe_image_dataset(cat)
    assert d["kind"] == "image" and d["layout"] == "mvtec" and d["channels"] == 1
    assert d["splits"]["train"]["images"] == 5
    assert d["splits"]["test"]["classes"] == {"crack": 2, "good": 3, "hole": 2}
    assert d["image_sizes"] == [{"height": S, "width": S, "count": 12}]
    assert d["masks"]["found"] == 4 and d["masks"]["missing"] == 0
    import json

    json.dumps(d)


def test_missing_and_orphan_masks_warn(tmp_path: Path) -> None:
    cat = make_mvtec(tmp_path / "cat")
    (cat / "ground_truth" / "hole" / "001_mask.png").unlink()
    _mask().save(cat / "ground_truth" / "crack" / "999_mask.png")
    with pytest.warns(UserWarning) as rec:
        test = open_image_dataset(cat, "test", 8, progress=False)
    text = " ".join(str(w.message) for w in rec)
    assert "999_mask.png" in text and "001.png has no mask" in text
    assert not test.masks_complete
    i = next(i for i, r in enumerate(test.records) if r.defect == "hole" and r.mask_path is None)
    assert test.load_mask(i) is None


def test_mask_of_wrong_size_is_an_error(tmp_path: Path) -> None:
    cat = make_mvtec(tmp_path / "cat")
    _mask((S + 4, S)).save(cat / "ground_truth" / "crack" / "000_mask.png")
    with pytest.raises(DataError, match="000_mask.png is 24x28"):
        open_image_dataset(cat, "test", 8, progress=False)
    assert describe_image_dataset(cat)["masks"]["bad"] == 1


def test_generic_plain_folder_recursive(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for i in range(3):
        _img(rng, False).save(root / f"{i}.png")
    _img(rng, False).save(root / "sub" / "x.jpg")
    _img(rng, False).save(root / ".hidden" / "y.png")
    _junk(root)
    assert image_layout(root) == "folder"
    ds = open_image_dataset(root, "train", 8, progress=False)
    assert [r.path.name for r in ds.records] == ["0.png", "1.png", "2.png", "x.jpg"]
    with pytest.raises(DataError, match="no test images"):
        open_image_dataset(root, "test", 8, progress=False)


def make_generic(root: Path, mask_style: str = "_mask") -> Path:
    rng = np.random.default_rng(2)
    for sub in ("good", "anomalous/scratch", "masks/scratch"):
        (root / sub).mkdir(parents=True)
    for i in range(10):
        _img(rng, True).save(root / "good" / f"n{i}.png")
    for i in range(3):
        _img(rng, True).save(root / "anomalous" / "scratch" / f"a{i}.png")
        name = f"a{i}_mask.png" if mask_style == "_mask" else f"a{i}.png"
        _mask().save(root / "masks" / ("scratch" if i else "") / name)
    _junk(root / "good")
    return root


@pytest.mark.parametrize("style", ["_mask", "plain"])
def test_generic_structured_folder_stem_masks(tmp_path: Path, style: str) -> None:
    root = make_generic(tmp_path / "g", style)
    train = open_image_dataset(root, "train", 8, progress=False)
    test = open_image_dataset(root, "test", 8, progress=False)
    assert len(train) == 8 and train.channels == 1  # 2 of 10 normals held out
    assert {r.path for r in train.records}.isdisjoint(r.path for r in test.records)
    assert sorted(r.defect for r in test.records) == ["good"] * 2 + ["scratch"] * 3
    assert test.masks_complete
    assert all(test.load_mask(i).any() == bool(r.label) for i, r in enumerate(test.records))


def test_generic_anomalous_subfolder_without_good_folder(tmp_path: Path) -> None:
    src = make_generic(tmp_path / "g")
    for f in (src / "good").iterdir():
        f.rename(src / f.name)
    (src / "good").rmdir()
    train = open_image_dataset(src, "train", 8, progress=False)
    assert len(train) == 8 and all(r.path.parent == src for r in train.records)
    test = open_image_dataset(src, "test", 8, progress=False)
    assert sum(r.label for r in test.records) == 3 and test.masks_complete


def test_generic_explicit_dirs(tmp_path: Path) -> None:
    src = make_generic(tmp_path / "g")
    test = open_image_dataset(src / "good", "test", 8, abnormal_dir=src / "anomalous",
                              mask_dir=src / "masks", normal_test_dir=src / "good",
                              progress=False)
    assert sum(r.label for r in test.records) == 3 and len(test) == 13
    with pytest.raises(DataError, match="abnormal_dir"):
        scan_image_split(src / "good", "test", abnormal_dir=tmp_path / "nope")


def test_missing_and_empty_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        open_image_dataset(tmp_path / "nope", "train", 8)
    (tmp_path / "empty").mkdir()
    _junk(tmp_path / "empty")
    with pytest.raises(DataError, match="no images found"):
        open_image_dataset(tmp_path / "empty", "train", 8)
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(DataError, match="not a folder"):
        open_image_dataset(tmp_path / "f.png", "train", 8)
    with pytest.raises(DataError, match="split"):
        scan_image_split(tmp_path, "val")


def _bad_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    good = folder / "good.png"
    _img(rng, False).save(good)
    data = good.read_bytes()
    files = {"zero": folder / "zero.png", "trunc": folder / "trunc.png",
             "text": folder / "text.png", "garbage": folder / "garbage.jpg"}
    files["zero"].write_bytes(b"")
    files["trunc"].write_bytes(data[: len(data) // 2])
    files["text"].write_text("hello, I am not a PNG\n")
    files["garbage"].write_bytes(bytes(rng.integers(0, 256, 200, dtype=np.uint8)))
    return files


def test_bad_files_raise_clear_errors(tmp_path: Path) -> None:
    files = _bad_files(tmp_path)
    for key, reason in [("zero", "empty"), ("trunc", "truncated"), ("text", "text"),
                        ("garbage", "not an image")]:
        with pytest.raises(DataError, match=reason) as exc:
            read_image(files[key])
        assert files[key].name in str(exc.value)
        with pytest.raises(DataError):
            read_mask(files[key])


def test_corrupt_training_images_are_skipped_with_warning(tmp_path: Path) -> None:
    files = _bad_files(tmp_path / "train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_image_dataset(tmp_path / "train", "train", 8, progress=False)
    text = " ".join(str(w.message) for w in caught)
    assert all(p.name in text for p in files.values())
    assert [r.path.name for r in ds.records] == ["good.png"]
    assert sorted(p.name for p in ds.skipped) == sorted(p.name for p in files.values())
    with pytest.raises(DataError):
        open_image_dataset(tmp_path / "train", "train", 8, progress=False, on_error="raise")
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "a.png").write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the 1 images"):
        open_image_dataset(only_bad, "train", 8, progress=False)


def test_special_png_modes(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1))  # 4 x 16
    Image.fromarray(ramp.astype(np.uint16) * 257).save(tmp_path / "i16.png")
    assert Image.open(tmp_path / "i16.png").mode.startswith("I")
    assert np.array_equal(read_image(tmp_path / "i16.png")[..., 0], ramp)
    pimg = Image.fromarray(ramp // 16, mode="L").convert("P")  # indices 0..15
    palette = [[16 * i, 255 - 16 * i, 7] for i in range(16)]
    pimg.putpalette([v for rgb in palette for v in rgb])
    pimg.save(tmp_path / "pal.png")
    pal = read_image(tmp_path / "pal.png")
    assert pal.shape == (4, 16, 3)
    assert np.array_equal(pal[0], np.array(palette, np.uint8))
    rgba = np.zeros((4, 16, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[:, :8, 3] = 0  # transparent half -> black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png")
    assert out.shape == (4, 16, 3)
    assert (out[:, :8] == 0).all() and (out[:, 8:, 0] == 200).all()
    assert read_image(tmp_path / "rgba.png", channels=1).shape == (4, 16, 1)
    m = np.zeros((4, 16, 3), np.uint8)
    m[1, 2, 1] = 1
    Image.fromarray(m).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").sum() == 1


def test_mixed_sizes_and_modes_in_one_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    _img(rng, True, (20, 30)).save(tmp_path / "a.png")
    _img(rng, False, (40, 12)).save(tmp_path / "b.png")
    Image.fromarray((rng.integers(0, 65535, (9, 9))).astype(np.uint16)).save(tmp_path / "c.png")
    ds = open_image_dataset(tmp_path, "train", 16, progress=False)
    assert ds.channels == 3 and ds.images.shape == (3, 3, 16, 16)
    assert [ds.original_size(i) for i in range(3)] == [(20, 30), (40, 12), (9, 9)]
    sizes = describe_image_dataset(tmp_path)["image_sizes"]
    assert sorted((s["height"], s["width"]) for s in sizes) == [(9, 9), (20, 30), (40, 12)]


def test_cache_dir_roundtrip(tmp_path: Path) -> None:
    cat = make_mvtec(tmp_path / "cat")
    cache = tmp_path / "cache"
    a = open_image_dataset(cat, "train", 8, cache_dir=cache, progress=False)
    assert len(list(cache.glob("*.npy"))) == 1
    b = open_image_dataset(cat, "train", 8, cache_dir=cache, progress=False)
    assert torch.equal(a.images, b.images) and b.original_size(0) == a.original_size(0)
    _img(np.random.default_rng(9), False).save(cat / "train" / "good" / "000.png")
    c = open_image_dataset(cat, "train", 8, cache_dir=cache, progress=False)
    assert not torch.equal(a.images[0], c.images[0])  # key includes mtimes and sizes
    assert len(list(cache.glob("*.npy"))) == 2
    for f in cache.glob("*.npy"):
        f.write_bytes(b"broken")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        d = open_image_dataset(cat, "train", 8, cache_dir=cache, progress=False)
    assert torch.equal(c.images, d.images)


def test_dataset_direct_construction_and_args(tmp_path: Path) -> None:
    cat = make_mvtec(tmp_path / "cat")
    recs = [ImageRecord(p, 0, "good") for p in list_image_files(cat / "train" / "good")]
    ds = ImageDataset(recs, 12, channels=None, num_workers=1, progress=False)
    assert ds.image_size == 12 and ds.images.dtype == torch.uint8
    with pytest.raises(DataError):
        ImageDataset(recs, 0)
    with pytest.raises(DataError):
        ImageDataset(recs, 8, channels=2)
    with pytest.raises(DataError):
        ImageDataset([], 8)
