"""``mmae`` command line: train, test, predict, synth, demo, data, export, serve, models,
benchmark.

Every user error (bad file, unknown option value, existing output folder) prints one line
``mmae: error: ...`` and exits with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from mmae._version import __version__
from mmae.cli import commands
from mmae.cli.benchmark import add_benchmark_parser, cmd_benchmark
from mmae.cli.options import add_max_pixels_option, add_threshold_options
from mmae.cli.serve import add_serve_parser, cmd_serve
from mmae.errors import MMAEError

EPILOG = "Run `mmae VERB --help` for the options of each verb."


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``mmae`` command."""
    parser = argparse.ArgumentParser(
        prog="mmae",
        description="Unsupervised anomaly detection and localization in images and video with "
                    "multi-scale memory-augmented autoencoders (MMAE, MemAE, AE, SSIM-AE, VAE).",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"mmae {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = sub.add_parser("train", help="train a model on normal data",
                       description="Train a model on the normal (training) images or videos of a "
                                   "dataset. Writes checkpoint.pt, config.yaml, train_log.jsonl "
                                   "and thresholds.json into --out. checkpoint.pt is written "
                                   "every save_every_s seconds (600), every save_every epochs "
                                   "if set, and at the end; SIGTERM or Ctrl-C finishes the "
                                   "step, writes it and exits saying how to --resume.")
    p.add_argument("--data", help="dataset: a category folder of MVTec AD, MVTec AD 2 or VisA "
                                  "as downloaded, a folder of good images, "
                                  "or a video dataset folder (UCSDped2, Avenue, shanghaitech, "
                                  "frames layout); required unless --resume")
    p.add_argument("--model", default="mmae",
                   help="model name (see `mmae models`; default: mmae)")
    p.add_argument("--preset", default=None,
                   help="settings preset: cpu (default, small and fast), paper (the paper's "
                        "settings) or a YAML file")
    p.add_argument("--out", help="run folder to create (refused if it exists and is not empty, "
                                 "unless --overwrite)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set epochs=10 --set image_size=128 "
                        "(repeatable; --help-settings lists every key)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last "
                                                   "checkpoint (model, optimizer, epoch, RNG)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out folder (the old one is kept as <out>.old)")
    p.add_argument("--help-settings", action="store_true",
                   help="list every --set key with its value for --model and --preset "
                        "(after any --set), then exit")
    _common(p)

    p = sub.add_parser("test", help="evaluate a trained run on a test split",
                       description="Score the test split of a dataset with a trained run and write "
                                   "metrics.json, scores.csv and pictures (images: image/pixel "
                                   "AUROC, AU-PRO@0.3, per-defect; video: frame AUC micro/macro, "
                                   "per-video curves).")
    p.add_argument("--run", required=True, help="run folder written by `mmae train`")
    p.add_argument("--data", help="dataset to test on (default: the run's training dataset)")
    p.add_argument("--out", help="output folder (default: RUN/test)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override an evaluation setting (eval section): smoothing_sigma, "
                        "score_reduce, score_topk, fpr_limit, frame_rule (mean|center), "
                        "clip_error (squared|l2norm), eval_batch_size; also test_clip_stride, "
                        "device")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing non-empty output folder")
    _common(p)

    p = sub.add_parser("predict", help="score new images or videos: CSV of scores and pictures",
                       description="Score new inputs with a trained run. Image run: images (files "
                                   "or folders); writes scores.csv (path, score, threshold, "
                                   "anomalous) and one heatmap overlay PNG per image; unreadable "
                                   "files are skipped with a warning; files over --max-pixels "
                                   "get one error line each, the others are still scored and "
                                   "the exit status is 2. Video run: video files "
                                   "(anything OpenCV reads) or folders of frame images; writes "
                                   "frames.csv (video, frame (0-based), score, anomalous), one "
                                   "row per frame, and plots/VIDEO.png (score curve with the "
                                   "threshold). Frame scores follow the run's frame_rule: under "
                                   "mean every frame is scored; under center the first 8 and "
                                   "last 7 frames of each video (16-frame clips) get score nan "
                                   "and an empty anomalous.")
    p.add_argument("--run", required=True, help="run folder written by `mmae train`")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files or folders (image run; an MVTec AD 2 category: its "
                        "test_private and test_private_mixed folders); video files or folders "
                        "of frames (video run)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overlay", action="store_true",
                   help="video run: also write overlays/VIDEO.mp4 with the heatmap blended in")
    add_threshold_options(p)
    add_max_pixels_option(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing non-empty output folder")
    _common(p)

    p = sub.add_parser("synth", help="generate a synthetic dataset",
                       description="Write a deterministic synthetic dataset: `image` (MVTec AD "
                                   "layout) or `video` (UCSD Ped2 layout; --motion for anomalies "
                                   "in the motion only).")
    p.add_argument("what", choices=["image", "video"], help="image or video")
    p.add_argument("out", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--categories", "--only", default=None, metavar="N|NAME,NAME|hard",
                   help="image only: the first N categories, or categories by name (disc, fabric, "
                        "grid, nut are easy; carpet, screw, tiles, gravel, pcb, grass are hard; "
                        "sheet has defects of a few pixels, for large images and tiles), or "
                        "`hard` for all the hard ones (default: all)")
    p.add_argument("--image-size", type=int, default=None, metavar="PX",
                   help="image only: side of the images in pixels (default 128)")
    p.add_argument("--motion", action="store_true",
                   help="video only: anomalies in the motion (too fast, against the flow, "
                        "zigzag) of objects that look like the normal ones")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    _common(p)

    p = sub.add_parser("demo", help="synthetic data -> train -> test -> metrics table and picture",
                       description="End-to-end demo on built-in synthetic data: generate, train "
                                   "with the cpu preset, test, print the metrics table and write "
                                   "a PNG grid (input / reconstruction / ground truth / heatmap).")
    p.add_argument("--out", default="runs/demo", help="demo folder (default runs/demo)")
    p.add_argument("--model", default=None, help="model (default: mmae, or mmae3d with --video)")
    p.add_argument("--video", action="store_true", help="the video demo (synthetic Ped2 layout)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training setting (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    _common(p)

    p = sub.add_parser("data", help="describe a dataset folder",
                       description="Describe a dataset: layout, splits, image/video counts per "
                                   "class, sizes, masks or labels found. Image layouts: MVTec AD, "
                                   "MVTec AD 2 and VisA as downloaded (a category, or the folder "
                                   "of categories), or a generic folder; video layouts: UCSD, "
                                   "Avenue, ShanghaiTech, frames.")
    p.add_argument("path", help="dataset folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--categories", action="store_true",
                   help="list the categories (what `mmae benchmark --categories` picks from): "
                        "one name a line, or name -> folder with --json")
    p.add_argument("--layout", default="auto",
                   help="video layout: auto, ucsd, avenue, shanghaitech, frames")
    _common(p)

    add_benchmark_parser(sub, _common)
    p = sub.add_parser("export", help="export a trained run to ONNX (checked against torch)",
                       description="Export a trained run to ONNX (input: image or clip with a "
                                   "dynamic batch; outputs: recon, anomaly_map and pred_score, "
                                   "post-processed as `mmae predict` does; metadata: threshold) "
                                   "and check onnxruntime's outputs against torch. Needs "
                                   "pip install 'mmae[onnx]'.")
    p.add_argument("--run", required=True, help="run folder written by `mmae train`")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the onnxruntime comparison with the torch model")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _common(p)

    add_serve_parser(sub, _common)

    p = sub.add_parser("models", help="list the registered models",
                       description="List the registered models and their kind.")
    _common(p)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmae`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.debug:
        warnings.formatwarning = lambda msg, cat, *a, **k: f"mmae: warning: {msg}\n"
    try:
        verbs = {"benchmark": cmd_benchmark, "serve": cmd_serve}
        handler = verbs.get(args.verb) or getattr(commands, f"cmd_{args.verb}")
        return int(handler(args) or 0)
    except MMAEError as exc:
        signum = getattr(exc, "signum", None)  # training stopped by a signal, checkpoint written
        if signum is not None:
            print(f"mmae: {exc}", file=sys.stderr)
            return 128 + int(signum)
        if args.debug:
            raise
        print(f"mmae: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmae: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
