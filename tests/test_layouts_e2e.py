"""Every verb on VisA and MVTec AD 2 as downloaded: train, test, predict (AD 2's private test
folders), `mmae data --categories` and the benchmark, on tiny trees (1 epoch, 32 px)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
from conftest import BENCH_FAST, write_tiny_ad2, write_tiny_visa

from mmae import Detector

TRAIN = ["--model", "mmae", "--quiet", "--set", "epochs=1", "--set", "image_size=32",
         "--set", "num_scales=2", "--set", "latent_dim=16", "--set", "batch_size=8"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_visa_train_test_and_categories(cli, tmp_path: Path) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", ("candle", "pcb1"), n_train=8, n_test=3)
    code, out, err = cli("data", visa, "--categories")
    assert code == 0 and out.split() == ["candle", "pcb1"], err
    code, out, err = cli("data", visa / "pcb1", "--categories", "--json")
    assert code == 0 and json.loads(out) == {"pcb1": str(visa / "pcb1")}
    code, out, _ = cli("data", visa / "candle", "--json")
    assert code == 0 and json.loads(out)["layout"] == "visa"

    run = tmp_path / "run"
    code, _, err = cli("train", "--data", visa / "candle", "--out", run, *TRAIN)
    assert code == 0, err
    normal = json.loads((run / "thresholds.json").read_text())["normal"]
    assert normal["split"] == "validation" and normal["num_scores"] == 1  # 10 % of 8, at least 1
    code, _, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    m = json.loads((run / "test" / "metrics.json").read_text())
    assert m["layout"] == "visa" and m["num_images"] == 6 and m["num_anomalous"] == 3
    assert set(m["per_defect"]) == {"spot", "spot,scratch"} and m["pixel_auroc"] is not None
    with open(visa / "split_csv" / "1cls.csv", newline="") as fh:
        official = {str(visa / r["image"]) for r in csv.DictReader(fh)
                    if r["object"] == "candle" and r["split"] == "test"}
    assert {r["path"] for r in _rows(run / "test" / "scores.csv")} == official
    assert "(visa layout)" in (run / "test" / "report.html").read_text()


def test_ad2_train_test_predict_private(cli, tmp_path: Path) -> None:
    cat = write_tiny_ad2(tmp_path / "ad2", n_train=8, n_val=4, n_test=3, n_private=3)
    code, out, err = cli("data", cat)
    assert code == 0, err
    assert out.splitlines()[2:6] == [
        "train: 8 images (8 normal, 0 anomalous; good 8)",
        "validation: 4 images (4 normal, 0 anomalous; good 4)",
        "test: 6 images (3 normal, 3 anomalous; bad 3, good 3)",
        "test_private: 3 images, no labels"]
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", cat, "--out", run, *TRAIN)
    assert code == 0, err
    normal = json.loads((run / "thresholds.json").read_text())["normal"]
    assert normal["split"] == "validation" and normal["num_scores"] == 4  # validation/good
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["epoch"] == 1
    code, _, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    m = json.loads((run / "test" / "metrics.json").read_text())
    assert m["layout"] == "mvtec_ad2" and m["num_images"] == 6 and m["num_anomalous"] == 3
    assert set(m["per_defect"]) == {"bad"} and m["pixel_auroc"] is not None
    paths = {Path(r["path"]).parent.relative_to(cat).as_posix()
             for r in _rows(run / "test" / "scores.csv")}
    assert paths == {"test_public/good", "test_public/bad"}

    # predict on the category scores its private test folders only, without metrics
    code, _, err = cli("predict", "--run", run, cat, "--out", tmp_path / "pred", "--quiet")
    assert code == 0, err
    rows = _rows(tmp_path / "pred" / "scores.csv")
    assert sorted(Path(r["path"]).relative_to(cat).as_posix() for r in rows) == sorted(
        [f"test_private/{i:03d}.png" for i in range(3)]
        + [f"test_private_mixed/{i:03d}_overexposed.png" for i in range(3)])
    assert all(r["anomalous"] in ("0", "1") for r in rows)
    assert not (tmp_path / "pred" / "metrics.json").exists()
    det = Detector.load(run)  # the Detector reads the category as `mmae predict` does
    by_path = {r["path"]: float(r["score"]) for r in rows}
    files = sorted(by_path)
    assert np.allclose(det.decision_function(files), [by_path[f] for f in files], rtol=1e-5)
    assert len(det.decision_function(cat)) == 6
    code, _, err = cli("predict", "--run", run, cat / "test_private", "--out",
                       tmp_path / "pred1", "--quiet")
    assert code == 0 and len(_rows(tmp_path / "pred1" / "scores.csv")) == 3, err

    shutil.rmtree(cat / "test_private")
    shutil.rmtree(cat / "test_private_mixed")
    code, _, err = cli("predict", "--run", run, cat, "--out", tmp_path / "pred2", "--quiet")
    assert code == 2 and "without test_private or test_private_mixed" in err
    assert len(err.strip().splitlines()) == 1


def test_partial_trees_one_error_line(cli, tmp_path: Path) -> None:
    cat = write_tiny_ad2(tmp_path / "ad2", n_train=2, n_val=1, n_test=1, n_private=1)
    shutil.rmtree(cat / "validation")
    code, _, err = cli("train", "--data", cat, "--out", tmp_path / "r", *TRAIN)
    assert code == 2 and err.strip().splitlines() == [
        f"mmae: error: {cat}: incomplete MVTec AD 2 category: missing folder validation/good"]
    visa = write_tiny_visa(tmp_path / "VisA", n_train=2, n_test=1)
    (visa / "split_csv" / "1cls.csv").unlink()
    for argv in (["data", visa / "candle"], ["train", "--data", visa / "candle", "--out",
                                             tmp_path / "r2", *TRAIN]):
        code, _, err = cli(*argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "1cls.csv" in err
        assert "Traceback" not in err


def test_benchmark_on_a_visa_root(cli, tmp_path: Path) -> None:
    visa = write_tiny_visa(tmp_path / "VisA", ("candle", "pcb1"), n_train=8, n_test=2)
    out = tmp_path / "bench"
    code, _, err = cli("benchmark", "--data", visa, "--models", "ae", "--out", out,
                       "--preset", "bench-cpu", "--quiet", *BENCH_FAST)
    assert code == 0, err
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert sorted(c["category"] for c in cells) == ["candle", "pcb1"]
    assert all(c["status"] == "done" and c["au_pro"] is not None for c in cells)


def test_data_categories_of_video_datasets(cli, tmp_path: Path) -> None:
    from mmae.data.synth.video import generate_synthetic_video

    (tmp_path / "v").mkdir()
    for name in ("a", "b"):
        made = generate_synthetic_video(tmp_path / f"g{name}", seed=0, num_train=1, num_test=1,
                                        train_frames=16, test_frames=16)
        made.rename(tmp_path / "v" / name)
    code, out, err = cli("data", tmp_path / "v", "--categories")
    assert code == 0 and out.split() == ["a", "b"], err
    code, out, err = cli("data", tmp_path / "v" / "a", "--categories")
    assert code == 0 and out.split() == ["a"], err
