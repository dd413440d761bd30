"""Video end to end: synthetic Ped2-layout data -> train -> test (frame AUC, curves, CSVs)."""

from __future__ import annotations

import csv
import json

import pytest

from mmae.data.synth.video import generate_synthetic_video


@pytest.fixture(scope="module")
def synth_video(tmp_path_factory):
    return generate_synthetic_video(tmp_path_factory.mktemp("sv") / "data", seed=0)


@pytest.mark.slow
def test_mmae3d_reaches_frame_auc(cli, tmp_path, synth_video):
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", synth_video, "--model", "mmae3d", "--out", run,
                       "--quiet")
    assert code == 0, err
    code, out, err = cli("test", "--run", run, "--quiet")
    assert code == 0, err
    m = json.loads((run / "test" / "metrics.json").read_text())
    assert m["frame_auc_micro"] >= 0.8, m
    assert m["frame_auc_macro"] is not None
    assert m["label_source"] == "ucsd_m_file" and m["alignment_rule"] == "mean"
    assert m["num_frames_scored"] == 400  # every test frame scored
    assert "frame AUC (micro)" in out
    rows = list(csv.DictReader(open(run / "test" / "curves" / "Test001.csv")))
    assert len(rows) == 100 and all(r["scored"] == "1" for r in rows)
    assert (run / "test" / "curves" / "Test001.png").is_file()
    report = (run / "test" / "report.html").read_text()
    # a score curve per video; training panels: loss parts, samples/s, zero rows, grad norms,
    # fuser weights
    assert report.count("<img ") == 4 + 5
    assert "<td>Test001</td><td>100</td><td>100</td>" in report

    # MemAE's centre rule: first 8 and last 7 frames of each video are not scored
    code, _, err = cli("test", "--run", run, "--out", tmp_path / "center", "--quiet",
                       "--set", "frame_rule=center")
    assert code == 0, err
    c = json.loads((tmp_path / "center" / "metrics.json").read_text())
    assert c["alignment_rule"] == "center"
    assert c["num_frames_scored"] == 400 - 4 * 15
    rows = list(csv.DictReader(open(tmp_path / "center" / "curves" / "Test001.csv")))
    assert [r["scored"] for r in rows[:9]] == ["0"] * 8 + ["1"]
    assert [r["scored"] for r in rows[-8:]] == ["1"] + ["0"] * 7
