"""The command line: help texts, clear errors, train/test/predict on a tiny dataset."""

from __future__ import annotations

import csv
import json

import pytest

from mmae.cli.main import build_parser

VERBS = ["train", "test", "predict", "synth", "demo", "data", "export", "serve", "models",
         "benchmark"]


def test_every_verb_has_help_describing_each_option(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for verb in VERBS:
        assert verb in out
        code, text, _ = cli(verb, "--help")
        assert code == 0, verb
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    for verb, p in sub.choices.items():
        for action in p._actions:
            if action.help is not None and action.help != "==SUPPRESS==":
                assert len(action.help) > 8, (verb, action.dest)
            elif action.help is None:
                pytest.fail(f"{verb} option {action.option_strings} has no help")


@pytest.mark.parametrize("args,needle", [
    (["train", "--data", "/no/such/dir", "--out", "x"], "/no/such/dir"),
    (["train", "--data", ".", "--out", "x", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--data", ".", "--out", "x", "--set", "epochs=-2"], "epochs"),
    (["test", "--run", "/no/such/run"], "/no/such/run"),
    (["data", "/no/such/dir"], "/no/such/dir"),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, needle):
    code, out, err = cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmae: error:"), err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_train_test_predict_on_tiny_data(cli, tmp_path, tiny_mvtec):
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", run, "--model", "mmae", "--quiet",
                       "--set", "epochs=2", "--set", "image_size=32", "--set", "num_scales=2",
                       "--set", "latent_dim=32")
    assert code == 0, err
    for name in ("checkpoint.pt", "config.yaml", "train_log.jsonl", "thresholds.json"):
        assert (run / name).is_file(), name
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    # the run folder is never overwritten silently
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", run, "--quiet")
    assert code == 2 and "already exists" in err

    code, out, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    m = json.loads((run / "test" / "metrics.json").read_text())
    for key in ("image_auroc", "pixel_auroc", "au_pro", "per_defect", "definitions"):
        assert key in m
    assert 0.0 <= m["au_pro"] <= 1.0
    assert set(m["per_defect"]) == {"spot"}
    assert m["definitions"]["au_pro"]["fpr_limit"] == 0.3
    rows = list(csv.DictReader(open(run / "test" / "scores.csv")))
    assert len(rows) == 12
    assert (run / "test" / "grid.png").is_file()
    assert "<h2><a href=\"#gallery\">Gallery</a></h2>" in (run / "test" / "report.html").read_text()

    (tmp_path / "junk.png").write_text("not an image")
    pred = tmp_path / "pred"
    with pytest.warns(UserWarning, match="junk.png"):  # skipped with a warning naming it
        code, out, err = cli("predict", "--run", run, tiny_mvtec / "test" / "spot",
                             tmp_path / "junk.png", "--out", pred, "--quiet")
    assert code == 0, err
    rows = list(csv.DictReader(open(pred / "scores.csv")))
    assert len(rows) == 6
    assert all(r["anomalous"] in ("0", "1") for r in rows)
    th = json.loads((run / "thresholds.json").read_text())
    # `mmae test` stored an F1 threshold but the default stays the normal-data one
    assert th["default"] == "normal" and "f1" in th
    assert all(r["threshold_source"] == "normal" for r in rows)
    assert all(float(r["threshold"]) == th["normal"]["value"] for r in rows)
    assert all(r["anomalous"] == str(int(float(r["score"]) >= th["normal"]["value"]))
               for r in rows)
    assert all((pred / r["heatmap"]).is_file() for r in rows)
    code, out, err = cli("predict", "--run", run, tiny_mvtec / "test" / "spot", "--out",
                         tmp_path / "pred_f1", "--quiet", "--threshold-rule", "f1")
    assert code == 0, err
    rows_f1 = list(csv.DictReader(open(tmp_path / "pred_f1" / "scores.csv")))
    assert all(float(r["threshold"]) == th["f1"]["value"] for r in rows_f1)
    assert [r["score"] for r in rows_f1] == [r["score"] for r in rows]


def test_data_json_describes_mvtec(cli, tiny_mvtec):
    code, out, err = cli("data", tiny_mvtec, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["kind"] == "image" and info["layout"] == "mvtec"


def test_data_describes_a_video_dataset(cli, tmp_path):
    from mmae.data.synth.video import generate_synthetic_video

    root = generate_synthetic_video(tmp_path / "v", seed=0, num_train=2, num_test=1,
                                    train_frames=20, test_frames=20)
    code, out, err = cli("data", root, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["kind"] == "video" and info["layout"] == "ucsd"
    assert [v["frames"] for v in info["splits"]["train"]["videos"]] == [20, 20]
    code, out, err = cli("data", root)
    assert code == 0 and "train: 2 videos, 40 frames" in out, err


def test_bad_model_setting_fails_before_creating_the_run(cli, tmp_path, tiny_mvtec):
    code, _, err = cli("train", "--data", tiny_mvtec, "--out", tmp_path / "r", "--set",
                       "gamma=2", "--quiet")
    assert code == 2 and "gamma" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_image_model_on_video_data_is_refused(cli, tmp_path):
    from mmae.data.synth.video import generate_synthetic_video

    data = generate_synthetic_video(tmp_path / "v", seed=0, num_train=1, num_test=1,
                                    train_frames=20, test_frames=20)
    code, _, err = cli("train", "--data", data, "--out", tmp_path / "r", "--quiet")
    assert code == 2 and "video dataset" in err and "mmae3d" in err
    assert not (tmp_path / "r").exists()
