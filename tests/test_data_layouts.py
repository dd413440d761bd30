"""VisA and MVTec AD 2 as downloaded, and suspicious plain folders: tiny trees in the exact
layouts (written by ``conftest.write_tiny_visa`` / ``write_tiny_ad2``)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tiny_ad2, write_tiny_mvtec, write_tiny_visa
from PIL import Image

from mmae.config import resolve_config
from mmae.data import categories, describe
from mmae.data.image import open_image_dataset
from mmae.data.layouts import image_layout, scan_image_split
from mmae.errors import DataError
from mmae.tasks import get_task


def _csv_rows(visa: Path, cat: str, split: str) -> list[dict[str, str]]:
    with open(visa / "split_csv" / "1cls.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["object"] == cat and r["split"] == split]


# -- VisA ------------------------------------------------------------------------------------
def test_visa_detection_categories_and_official_split(tmp_path: Path) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", ("candle", "pcb1"), n_train=6, n_test=3)
    assert image_layout(visa) == "visa_root"
    assert image_layout(visa / "candle") == "visa"
    assert categories(visa, "image") == {"candle": visa / "candle", "pcb1": visa / "pcb1"}
    assert categories(visa / "pcb1", "image") == {"pcb1": visa / "pcb1"}
    with pytest.raises(DataError, match="pick one"):
        scan_image_split(visa, "train")
    train = open_image_dataset(visa / "candle", "train", 16, progress=False)
    assert train.layout == "visa" and train.validation_indices is None
    assert [r.path for r in train.records] == [
        visa / r["image"] for r in _csv_rows(visa, "candle", "train")]
    assert all(r.label == 0 and "Normal" in r.path.parts for r in train.records)
    test = open_image_dataset(visa, "test", 16, category="candle", progress=False)
    expected = {visa / r["image"]: r for r in _csv_rows(visa, "candle", "test")}
    assert {r.path for r in test.records} == set(expected)
    for i, rec in enumerate(test.records):
        row = expected[rec.path]
        assert rec.label == (row["label"] == "anomaly")
        assert rec.mask_path == (visa / row["mask"] if row["mask"] else None)
        mask = test.load_mask(i)  # VisA masks hold 1 where anomalous: any non-zero counts
        assert mask.shape == (32, 32) and mask.sum() == (64 if rec.label else 0)
    # defect types from the category's image_anno.csv; several defects read as one type
    assert sorted(r.defect for r in test.records) == ["good"] * 3 + ["spot"] * 2 + [
        "spot,scratch"]
    assert test.masks_complete
    (visa / "candle" / "image_anno.csv").unlink()
    test = open_image_dataset(visa / "candle", "test", 16, progress=False)
    assert sorted(r.defect for r in test.records) == ["anomaly"] * 3 + ["good"] * 3


def test_visa_describe_json(tmp_path: Path) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", ("candle", "pcb1"), n_train=6, n_test=3)
    d = describe(visa / "candle")
    assert d["kind"] == "image" and d["layout"] == "visa"
    assert d["splits"]["train"] == {"images": 6, "normal": 6, "anomalous": 0,
                                    "classes": {"good": 6}}
    assert d["splits"]["test"] == {"images": 6, "normal": 3, "anomalous": 3,
                                   "classes": {"good": 3, "spot": 2, "spot,scratch": 1}}
    assert d["masks"]["found"] == 3 and d["masks"]["missing"] == 0 and d["masks"]["bad"] == 0
    assert d["image_sizes"] == [{"height": 32, "width": 32, "count": 12}]
    assert d["channels"] == 3
    keys = set(describe(write_tiny_mvtec(tmp_path / "mvtec")))
    assert set(d) == keys == set(describe(write_tiny_ad2(tmp_path / "ad2")))  # same keys
    root = describe(visa)
    assert root["layout"] == "visa_root" and root["categories"] == ["candle", "pcb1"]
    assert root["category_splits"]["pcb1"] == {"train": 6, "test": 6}


def _drop_row(visa: Path, needle: str) -> None:
    f = visa / "split_csv" / "1cls.csv"
    f.write_text("".join(ln for ln in f.read_text().splitlines(True) if needle not in ln))


@pytest.mark.parametrize("damage, message", [
    (lambda v: shutil.rmtree(v / "candle" / "Data" / "Masks"),
     "incomplete VisA category: missing folder Data/Masks/Anomaly"),
    (lambda v: shutil.rmtree(v / "candle" / "Data" / "Images" / "Anomaly"),
     "missing folder Data/Images/Anomaly"),
    (lambda v: (v / "split_csv" / "1cls.csv").unlink(), "missing the VisA split file"),
    (lambda v: (v / "candle" / "Data" / "Images" / "Normal" / "0001.JPG").unlink(),
     "1 image(s) listed in"),
    (lambda v: (v / "split_csv" / "1cls.csv").write_text("object,split,image\n"),
     "no column label, mask"),
    (lambda v: _drop_row(v, "candle,"), "no rows for category 'candle'"),
])
def test_visa_partial_trees_name_what_is_missing(tmp_path: Path, damage, message) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", n_train=4, n_test=2)
    damage(visa)
    for split in ("train", "test"):
        with pytest.raises(DataError, match=re.escape(message)):
            open_image_dataset(visa / "candle", split, 16, progress=False)
    with pytest.raises(DataError, match=re.escape(message)):
        describe(visa / "candle")


def test_visa_missing_mask_file_warns(tmp_path: Path) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", n_train=4, n_test=2)
    (visa / "candle" / "Data" / "Masks" / "Anomaly" / "001.png").unlink()
    with pytest.warns(UserWarning, match="001.JPG has no mask"):
        test = open_image_dataset(visa / "candle", "test", 16, progress=False)
    assert not test.masks_complete


# -- MVTec AD 2 --------------------------------------------------------------------------------
def test_ad2_detection_splits_masks_and_validation(tmp_path: Path) -> None:
    cat = write_tiny_ad2(tmp_path / "ad2", n_train=6, n_val=3, n_test=2, n_private=3)
    write_tiny_ad2(tmp_path / "ad2", "vial", seed=1)
    assert image_layout(cat) == "mvtec_ad2"
    assert image_layout(cat.parent) == "mvtec_ad2_root"
    assert list(categories(cat.parent, "image")) == ["can", "vial"]
    train = open_image_dataset(cat, "train", 16, progress=False)
    names = [r.path.relative_to(cat).parent.as_posix() for r in train.records]
    assert names == ["train/good"] * 6 + ["validation/good"] * 3
    assert train.validation_indices == [6, 7, 8]
    test = open_image_dataset(cat, "test", 16, progress=False)
    assert {r.path.relative_to(cat).parent.as_posix() for r in test.records} == {
        "test_public/good", "test_public/bad"}
    for i, rec in enumerate(test.records):
        assert rec.label == (rec.defect == "bad")
        if rec.label:
            assert rec.mask_path == (cat / "test_public" / "ground_truth" / "bad"
                                     / f"{rec.path.stem}_mask.png")
            assert test.load_mask(i).sum() == 64
    assert len(test) == 4 and test.masks_complete
    # the task's validation split is validation/good, whatever val_fraction says
    task = get_task(resolve_config("ae", overrides={"val_fraction": 0.5}, data=str(cat)))
    fit, val = task.split(train)
    assert [train.records[i].path.parent.name for i in fit.indices] == ["good"] * 6
    assert {train.records[i].path.parts[-3] for i in val.indices} == {"validation"}
    assert {train.records[i].path.parts[-3] for i in fit.indices} == {"train"}


def test_ad2_describe_json(tmp_path: Path) -> None:
    cat = write_tiny_ad2(tmp_path / "ad2", n_train=6, n_val=3, n_test=2, n_private=3)
    d = describe(cat)
    assert d["layout"] == "mvtec_ad2"
    s = d["splits"]
    assert s["train"]["images"] == 6 and s["validation"] == {
        "images": 3, "normal": 3, "anomalous": 0, "classes": {"good": 3}}
    assert s["test"] == {"images": 4, "normal": 2, "anomalous": 2,
                         "classes": {"bad": 2, "good": 2}}
    assert s["test_private"]["images"] == 3 and s["test_private"]["normal"] is None
    assert s["test_private_mixed"]["images"] == 3
    assert d["masks"]["found"] == 2 and d["masks"]["orphans"] == 0
    assert d["image_sizes"][0]["count"] == 6 + 3 + 4
    assert any("test_private: 3 images without labels" in n for n in d["notes"])
    root = describe(cat.parent)
    assert root["layout"] == "mvtec_ad2_root" and root["categories"] == ["can"]


@pytest.mark.parametrize("remove, message", [
    ("validation", "missing folder validation/good"),
    ("test_public/ground_truth", "missing folder test_public/ground_truth/bad"),
    ("train", "missing folder train/good"),
])
def test_ad2_partial_trees_name_what_is_missing(tmp_path: Path, remove, message) -> None:
    cat = write_tiny_ad2(tmp_path / "ad2", n_train=4, n_val=2, n_test=2, n_private=1)
    shutil.rmtree(cat / remove)
    assert image_layout(cat) == "mvtec_ad2"
    for split in ("train", "test"):
        with pytest.raises(DataError, match=f"incomplete MVTec AD 2 category: {message}"):
            open_image_dataset(cat, split, 16, progress=False)
    with pytest.raises(DataError, match=message):
        describe(cat)


def test_ad2_without_private_folders_still_trains(tmp_path: Path) -> None:
    cat = write_tiny_ad2(tmp_path / "ad2", n_train=4, n_val=2, n_test=2, n_private=1)
    shutil.rmtree(cat / "test_private")
    shutil.rmtree(cat / "test_private_mixed")
    assert len(open_image_dataset(cat, "train", 16, progress=False)) == 6
    assert "test_private" not in describe(cat)["splits"]


# -- plain folders that hold anomalies or masks ---------------------------------------------
def _img(path: Path, value: int | None = None, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (16, 16), dtype=np.uint8) if value is None else np.where(
        np.arange(256).reshape(16, 16) % 5 == 0, value, 0).astype(np.uint8)
    Image.fromarray(arr).save(path)


@pytest.mark.parametrize("rel, word", [
    ("scans/Images/Anomaly/000.png", "'Anomaly' looks like anomalous images"),
    ("good/defects_2/x.png", "'defects_2' looks like anomalous images"),
    ("good/sub/NG/x.png", "'NG' looks like anomalous images"),
    ("good/ground_truth/x.png", "'ground_truth' looks like masks"),
    ("parts/017_mask.png", "'017_mask.png' looks like masks"),
    ("bad_part.png", "'bad_part.png' looks like anomalous images"),
])
def test_suspicious_plain_folders_are_refused(tmp_path: Path, cli, rel: str, word: str) -> None:
    root = tmp_path / "imgs"
    for i in range(4):
        _img(root / ("good" if rel.startswith("good") else "") / f"{i}.png", seed=i)
    _img(root / rel)
    assert image_layout(root) == "folder"
    with pytest.raises(DataError, match=word):
        open_image_dataset(root, "train", 8, progress=False)
    code, _, err = cli("data", root)
    assert code == 2 and word in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_a_plain_folder_named_like_anomalies_warns(tmp_path: Path) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", n_train=2, n_test=2)
    anomaly = visa / "candle" / "Data" / "Images" / "Anomaly"
    with pytest.warns(UserWarning, match="the folder's name 'Anomaly' looks like anomalous"):
        open_image_dataset(anomaly, "train", 8, progress=False)
    masks = visa / "candle" / "Data" / "Masks" / "Anomaly"
    assert any("looks like anomalous images" in n for n in describe(masks)["notes"])
    with pytest.raises(DataError, match="'Anomaly' looks like anomalous images"):
        open_image_dataset(visa / "candle" / "Data", "train", 8, progress=False)
    normal = visa / "candle" / "Data" / "Images" / "Normal"
    assert scan_image_split(normal, "train").warnings == []


def test_top_level_ng_folder_is_the_anomalous_folder(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for i in range(5):
        _img(root / f"{i}.png", seed=i)
    _img(root / "NG" / "scratch" / "a.png", seed=9)
    train = open_image_dataset(root, "train", 8, progress=False)
    assert all("NG" not in r.path.parts for r in train.records) and len(train) == 4
    test = scan_image_split(root, "test")
    assert [(r.label, r.defect) for r in test.records if r.label] == [(1, "scratch")]


def test_binary_images_in_a_plain_folder_warn(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for i in range(4):
        _img(root / f"{i}.png", seed=i)
    _img(root / "z.png", value=255)  # black and white only: looks like a mask
    with pytest.warns(UserWarning, match=r"1 of 5 sampled good images look like masks.*z\.png"):
        ds = open_image_dataset(root, "train", 8, progress=False)
    assert len(ds) == 5
    assert any("look like masks" in n for n in describe(root)["notes"])
    (root / "z.png").unlink()
    scan = scan_image_split(root, "train")
    assert scan.warnings == []


def test_root_description_names_an_incomplete_category(tmp_path: Path) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", ("candle", "pcb1"), n_train=4, n_test=2)
    shutil.rmtree(visa / "pcb1" / "Data" / "Masks")
    d = describe(visa)
    assert d["category_splits"] == {"candle": {"train": 4, "test": 4},
                                     "pcb1": {"train": 0, "test": 0}}
    assert [n for n in d["notes"] if "pcb1" in n] == [
        f"{visa / 'pcb1'}: incomplete VisA category: missing folder Data/Masks/Anomaly"]
