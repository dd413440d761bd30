"""The verbs of the ``mmae`` command; each takes the parsed argparse namespace."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mmae.cli.options import max_pixels_value
from mmae.config import parse_set, resolve_config, settings_help
from mmae.device import check_torchrun_devices, pick_device
from mmae.errors import ConfigError, DataError
from mmae.runs import checkpoint as ck
from mmae.runs.lock import RunLock, is_locked
from mmae.runs.run import Run


def cmd_train(args: argparse.Namespace) -> int:
    """``mmae train``."""
    from mmae.training.train import build_model, train

    if args.help_settings:
        print(settings_help(args.model, args.preset or "cpu", parse_set(args.sets)))
        return 0
    progress = not args.quiet
    if args.resume:
        run = Path(args.resume)
        if is_locked(run):  # the lock answers first: a run being written has no final files yet
            with RunLock(run):
                pass  # raises RunFolderError naming the writer
        cfg = Run(run).config()
        extra = parse_set(args.sets)
        if set(extra) - {"epochs", "train.epochs"}:
            raise ConfigError("--resume only accepts --set epochs=N (to extend a run)")
        for value in extra.values():
            cfg.epochs = int(value)
        if not (run / ck.CHECKPOINT).is_file():
            raise ConfigError(f"--resume {run}: no {ck.CHECKPOINT} yet; start the run again")
        train(cfg, run, resume=True, progress=progress)
        print(f"resumed and finished: {run}")
        return 0
    if not args.data or not args.out:
        raise ConfigError("mmae train needs --data PATH and --out RUN (or --resume RUN)")
    data = Path(args.data)
    if not data.exists():
        raise DataError(f"--data {data} does not exist")
    cfg = resolve_config(args.model, args.preset or "cpu", parse_set(args.sets),
                         data=str(data.resolve()))
    build_model(cfg)  # invalid model settings fail here, before the run folder is created
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: enough GPUs, before any folder
        check_torchrun_devices(pick_device(cfg.device))
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 owns the folder
        train(cfg, Path(args.out), progress=progress)
        return 0
    with ck.output_folder(Path(args.out), args.overwrite) as run:
        train(cfg, run, progress=progress)
    print(f"trained {cfg.model} ({cfg.epochs} epochs) -> {run}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """``mmae test``."""
    from mmae.tasks import get_task
    from mmae.tasks.evaluate import run_test

    run = Path(args.run)
    task = get_task(Run(run).config())  # clear error before anything else
    with ck.output_folder(Path(args.out) if args.out else run / "test", args.overwrite,
                          "output folder") as out:
        metrics = run_test(run, Path(args.data) if args.data else None, out,
                           progress=not args.quiet, overrides=parse_set(args.sets))
    print(task.format_metrics(metrics))
    print(f"wrote {out / 'metrics.json'}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``mmae predict``."""
    from mmae.inference.predict import run_predict

    max_pixels = max_pixels_value(args.max_pixels)
    with ck.output_folder(Path(args.out), args.overwrite, "output folder") as out:
        res = run_predict(Path(args.run), [Path(p) for p in args.inputs], out, args.threshold,
                          progress=not args.quiet, threshold_rule=args.threshold_rule,
                          overlay=args.overlay, max_pixels=max_pixels,
                          on_refused=lambda line: print(f"mmae: error: {line}", file=sys.stderr))
    print(f"scored {res.count} {res.unit}, {res.anomalous} anomalous (threshold {res.threshold}, "
          f"{res.threshold_source}) -> {res.csv}")
    if res.refused:
        print(f"mmae: error: {len(res.refused)} input(s) over --max-pixels {max_pixels} not "
              "scored (listed above); the others are in the output", file=sys.stderr)
        return 2
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """``mmae synth image|video``."""
    with ck.output_folder(Path(args.out), args.overwrite, "output folder") as out:
        _synth(args, out)
    return 0


def _synth(args: argparse.Namespace, out: Path) -> None:
    if args.what == "image":
        from mmae.data.synth.image import generate_synthetic_images, parse_synth_categories

        if args.motion:
            raise ConfigError("--motion applies to `mmae synth video` only")
        size = {} if args.image_size is None else {"image_size": args.image_size}
        cats = generate_synthetic_images(out, seed=args.seed,
                                         categories=parse_synth_categories(args.categories),
                                         **size)
        print(f"wrote {len(cats)} categories to {out}: {', '.join(Path(c).name for c in cats)}")
    else:
        if args.categories is not None:
            raise ConfigError("--categories applies to `mmae synth image` only")
        if args.image_size is not None:
            raise ConfigError("--image-size applies to `mmae synth image` only")
        if args.motion:
            from mmae.data.synth.video_motion import generate_motion_video

            root = generate_motion_video(out, seed=args.seed)
        else:
            from mmae.data.synth.video import generate_synthetic_video

            root = generate_synthetic_video(out, seed=args.seed)
        print(f"wrote synthetic video dataset to {root}")


def cmd_demo(args: argparse.Namespace) -> int:
    """``mmae demo``."""
    from mmae.demo import run_demo

    run_demo(Path(args.out), video=args.video, model=args.model, seed=args.seed,
             sets=parse_set(args.sets), overwrite=args.overwrite, progress=not args.quiet)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """``mmae data PATH [--json] [--categories]``."""
    from mmae.data import describe
    from mmae.data.describe_text import format_description

    path = Path(args.path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if args.categories:
        from mmae.data import categories

        found = categories(path, "video" if args.layout != "auto" else None)
        print(json.dumps({n: str(f) for n, f in found.items()}, indent=2) if args.json
              else "\n".join(found))
        return 0
    info = describe(path, layout=args.layout)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``mmae export``."""
    from mmae.inference.export import export_onnx

    res = export_onnx(Path(args.run), Path(args.out), opset=args.opset,
                      check=not args.no_check, overwrite=args.overwrite)
    print(f"wrote {res['path']} (input '{res['input']}', opset {res['opset']}, "
          f"threshold {res['threshold']})")
    if "max_abs_diff" in res:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in res["max_abs_diff"].items())
        print(f"onnxruntime vs torch, max abs difference: {diffs}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """``mmae models``."""
    from mmae.models.registry import get_spec, list_models

    for name in list_models():
        spec = get_spec(name)
        print(f"{name:10s} {spec.kind:6s} {spec.description}")
    return 0
