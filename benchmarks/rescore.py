"""Re-score trained benchmark runs with candidate post-processing settings (no retraining).

Every candidate is a set of evaluation settings (``map_terms``, ``standardize``, ``feature_fit``,
``score_reduce``, ...; :mod:`mmae.scoring.postprocess`). For each run folder of one or more
``mmae benchmark --out`` folders (``cells/<category>/<model>/seed<k>/run``) the script computes
every term's raw maps once for the training part, the held-out validation part and the test
split, then for each candidate fits the statistics on the training part exactly as training does
(:mod:`mmae.scoring.fit`), scores with :class:`~mmae.scoring.postprocess.PostProcess`, sets the
``normal`` threshold on the validation part and reports image AUROC, AU-PRO@0.3 and the image F1
at that threshold. Video runs: frame AUC (micro) of each video candidate through the video
task's own evaluation. One JSON line per (run, candidate) in ``--out`` (resumable).

    python benchmarks/rescore.py runs/b1 runs/b2 --out rescore.jsonl
    python benchmarks/rescore_table.py rescore.jsonl --reference base
    python benchmarks/rescore.py --quick          # a tiny run, seconds (tests)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmae import metrics as M
from mmae.runs.run import Run
from mmae.scoring import terms as T
from mmae.scoring.fit import feature_stats, fit_postprocess, standardize_stats
from mmae.scoring.postprocess import PostProcess
from mmae.scoring.thresholds import normal_threshold
from mmae.tasks import batch_input, get_task


def _gp(**settings: Any) -> dict[str, Any]:
    """A candidate of the per-position ``gaussian`` term with further ``settings``."""
    return {"map_terms": "gaussian", "feature_fit": "position", **settings}


# name -> evaluation settings (others: the run's own)
IMAGE_CANDIDATES: dict[str, dict[str, Any]] = {
    "base": {},
    "model|position": {"standardize": "position"},
    "model+ssim+gradient|pooled": {"map_terms": "model+ssim+gradient", "standardize": "pooled"},
    "model+ssim+gradient|position": {"map_terms": "model+ssim+gradient",
                                     "standardize": "position"},
    "feature": {"map_terms": "feature"},
    "gaussian": {"map_terms": "gaussian"},
    "gaussian[position]": _gp(),
    "gaussian[position]|topk": _gp(score_reduce="topk_mean"),
    "gaussian[position]|s2": _gp(smoothing_sigma=2.0),
    "gaussian[position]|s4": _gp(smoothing_sigma=4.0),
    "gaussian[position]|topk|s2": _gp(score_reduce="topk_mean", smoothing_sigma=2.0),
    "model+gaussian[position]|pooled": _gp(map_terms="model+gaussian", standardize="pooled"),
    "ssim+gradient+gaussian[position]|pooled": _gp(map_terms="ssim+gradient+gaussian",
                                                   standardize="pooled"),
    "model+ssim+gradient+gaussian[position]|pooled": _gp(
        map_terms="model+ssim+gradient+gaussian", standardize="pooled"),
    "gaussian[position]|s0": _gp(smoothing_sigma=0.0),
    "gaussian[position]|s0.5": _gp(smoothing_sigma=0.5),
    "gaussian[position]|topk5%": _gp(score_reduce="topk_mean", score_topk=0.05),
    "knn": {"map_terms": "knn", "knn_bank": 2048},
    "knn[16k]": {"map_terms": "knn", "knn_bank": 16384},
    "gaussian[position]+knn|pooled": _gp(map_terms="gaussian+knn", knn_bank=2048,
                                         standardize="pooled"),
    "gaussian[position]|r0.003": _gp(gaussian_ridge=0.003),
    "gaussian[position]|x2": _gp(feature_scales=2),
    "gaussian[position]|x2|r0.003": _gp(feature_scales=2, gaussian_ridge=0.003),
    "gaussian[position]|x3|r0.003": _gp(feature_scales=3, gaussian_ridge=0.003),
}
# terms every image candidate needs; the knn term (slower) is cached, once per bank size, only
# when a candidate asks for it
CACHED = "model+ssim+gradient+feature+gaussian"
VIDEO_CANDIDATES: dict[str, dict[str, Any]] = {
    "base": {},
    "max": {"clip_reduce": "max"},
    "topk": {"clip_reduce": "topk_mean"},
    "position": {"standardize": "position"},
    "position|max": {"standardize": "position", "clip_reduce": "max"},
    "position|topk": {"standardize": "position", "clip_reduce": "topk_mean"},
}


def _loader(ds: Any, batch: int) -> Any:
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=0)


def _gauss_key(feature_fit: str, scales: int, ridge: float) -> str:
    """Cache key of the ``gaussian`` term's maps fitted with these settings."""
    key = "gaussian[position]" if feature_fit == "position" else "gaussian"
    return key if (scales, ridge) == (1, 0.01) else f"{key}[s{scales},r{ridge:g}]"


def _terms_key(post: PostProcess) -> str:
    """Cache key of ``post``'s ``gaussian`` term."""
    return _gauss_key(post.feature_fit, post.feature_scales, post.gaussian_ridge)


def _gauss_specs(cands: list[dict[str, Any]]) -> set[tuple[str, int, float]]:
    """The (feature_fit, feature_scales, gaussian_ridge) of the ``gaussian`` candidates."""
    return {(c.get("feature_fit", "pooled"), int(c.get("feature_scales", 1)),
             float(c.get("gaussian_ridge", 0.01)))
            for c in cands if "gaussian" in str(c.get("map_terms", ""))}


def _cache(run: Run, data: Path | None, knn_banks: tuple[int, ...] = (),
           gauss: set[tuple[str, int, float]] = frozenset()) -> dict[str, Any]:
    """Raw term maps of the train / validation / test images of one image run, and the labels.

    ``knn_banks``: also the ``knn`` term's maps for these bank sizes (keys ``knn[rows]``).
    ``gauss``: also the ``gaussian`` term's maps fitted with these (feature_fit, feature_scales,
    gaussian_ridge) settings (keys :func:`_gauss_key`).
    """
    cfg = run.config()
    model, dev = run.load_model("cpu", cfg)
    task = get_task(cfg)
    train_part, val_part = task.split(task.open("train", progress=False))
    test = task.open("test", data, progress=False)
    feats = T.has_features(model)
    terms = CACHED if feats else "model+ssim+gradient"
    pooled = PostProcess(map_terms=terms)  # its gaussian term: the pooled default
    near = {n: PostProcess(map_terms="knn", knn_bank=n) for n in (knn_banks if feats else ())}
    specs = {("position", 1, 0.01), *gauss} - {("pooled", 1, 0.01)} if feats else set()
    extra = {_gauss_key(*g): PostProcess(map_terms="gaussian", feature_fit=g[0],
                                         feature_scales=g[1], gaussian_ridge=g[2])
             for g in specs}
    out: dict[str, Any] = {"cfg": cfg, "features": feats, "scales": T.feature_scales_of(model)}
    with torch.no_grad():
        if feats:
            def batches():
                return (batch_input(b) for b in _loader(train_part, cfg.eval_batch_size))
            pooled.load_fitted(feature_stats(pooled, model, batches(), dev, cfg.seed))
            for post in (*near.values(), *extra.values()):
                post.load_fitted(feature_stats(post, model, batches(), dev, cfg.seed))
        for split, ds in (("train", train_part), ("val", val_part), ("test", test)):
            acc: dict[str, list[np.ndarray]] = {}
            for b in _loader(ds, cfg.eval_batch_size):
                x = batch_input(b).to(dev)
                o = model(x)
                maps = pooled.term_maps(model, x, o)
                for n, post in near.items():
                    maps[f"knn[{n}]"] = post.term_maps(model, x, o)["knn"]
                for k, post in extra.items():
                    maps[k] = post.term_maps(model, x, o)["gaussian"]
                for k, v in maps.items():
                    acc.setdefault(k, []).append(v.float().numpy())
            out[split] = {k: np.concatenate(v) for k, v in acc.items()}
    out["labels"] = np.array([r.label for r in test.records], dtype=np.int64)
    out["masks"] = [test.load_mask(i) for i in range(len(test))]
    return out


def _post(cfg: Any, cand: dict[str, Any]) -> PostProcess:
    c = dataclasses.replace(cfg, **cand)
    return PostProcess.from_config(c)


def _terms(cache: dict[str, Any], split: str, post: PostProcess) -> dict[str, torch.Tensor]:
    key = {"gaussian": _terms_key(post), "knn": f"knn[{post.knn_bank}]"}
    return {t: torch.from_numpy(cache[split][key.get(t, t)]) for t in post.terms}


def score_image(cache: dict[str, Any], cand: dict[str, Any]) -> dict[str, Any] | None:
    """Metrics of one candidate on one cached run (None: the model has no features for it)."""
    cfg = cache["cfg"]
    post = _post(cfg, cand)
    if post.needs_features and not cache["features"]:
        return None
    if "knn" in post.terms and f"knn[{post.knn_bank}]" not in cache["test"]:
        return None
    if "gaussian" in post.terms and (_terms_key(post) not in cache["test"]
                                     or post.feature_scales > cache["scales"]):
        return None
    if post.standardize != "none":
        post.load_fitted(standardize_stats(post.standardize, [_terms(cache, "train", post)]))
    with torch.no_grad():
        _, val_scores = post.combine(_terms(cache, "val", post))
        maps, scores = post.combine(_terms(cache, "test", post))
    thr = normal_threshold(val_scores.double().numpy(), cfg.threshold_percentile,
                           "validation")["value"]
    labels, masks = cache["labels"], cache["masks"]
    s = scores.double().numpy()
    mm = maps.numpy()
    eval_maps = [M.resize_map_to_mask(mm[i], masks[i].shape) for i in range(len(masks))]
    m = M.image_metrics(labels, s, masks, eval_maps, fpr_limit=cfg.fpr_limit)
    pred = s >= thr
    tp, fp = int((pred & (labels == 1)).sum()), int((pred & (labels == 0)).sum())
    fn = int((~pred & (labels == 1)).sum())
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return {"image_auroc": m["image_auroc"], "au_pro": m["au_pro"],
            "pixel_auroc": m["pixel_auroc"], "image_f1_normal": f1,
            "fpr_normal": fp / max(int((labels == 0).sum()), 1)}


def score_video(run: Run, cand: dict[str, Any], data: Path | None) -> dict[str, Any]:
    """Frame AUC of one video candidate: fitted and evaluated by the video task itself."""
    cfg = dataclasses.replace(run.config(), **cand)
    model, dev = run.load_model("cpu", cfg)
    task = get_task(cfg)
    train_part, _ = task.split(task.open("train", progress=False))
    post = PostProcess.from_config(cfg)
    if post.needs_fit:
        samples = task.training_set(train_part)
        task.post_record = fit_postprocess(
            post, model, lambda: task.fit_batches(samples, cfg.eval_batch_size), dev, cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        m = task.evaluate(run, model, dev, Path(data or cfg.data), Path(tmp) / "t",
                          progress=False)
    return {k: m.get(k) for k in task.metric_keys}


def runs_of(folders: list[Path]) -> list[tuple[str, str, int, Path]]:
    """(model, category, seed, run folder) of every finished cell."""
    out = []
    for folder in folders:
        for cell in sorted(Path(folder).glob("cells/*/*/seed*")):
            if (cell / "cell.json").is_file():
                rec = json.loads((cell / "cell.json").read_text())
                out.append((rec["model"], rec["category"], int(rec["seed"]), cell / "run"))
    return out


def rescore(folders: list[Path], out: Path, only: list[str] | None = None,
            seeds: list[int] | None = None) -> int:
    """Score every candidate on every finished run not yet in ``out``; returns lines written.

    ``seeds``: only the runs of these seeds (all when None).
    """
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["run"], r["candidate"]))
    written = 0
    for model, category, seed, path in runs_of(folders):
        if seeds is not None and seed not in seeds:
            continue
        run = Run(path)
        kind = run.config().kind
        cands = VIDEO_CANDIDATES if kind == "video" else IMAGE_CANDIDATES
        todo = [c for c in cands if (str(path), c) not in done and (not only or c in only)]
        if not todo:
            continue
        t0 = time.perf_counter()
        banks = tuple(sorted({int(cands[c].get("knn_bank", 0)) for c in todo
                              if "knn" in str(cands[c].get("map_terms", ""))}))
        gauss = _gauss_specs([cands[c] for c in todo])
        cache = _cache(run, None, banks, gauss) if kind == "image" else None
        for name in todo:
            m = (score_image(cache, cands[name]) if kind == "image"
                 else score_video(run, cands[name], None))
            if m is None:
                continue
            rec = {"run": str(path), "model": model, "category": category, "seed": seed,
                   "candidate": name, **m}
            with open(out, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            written += 1
        print(f"{model} {category} seed{seed}: {len(todo)} candidates, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return written


def _quick(tmp: Path) -> int:
    """Train one tiny mmae run on a tiny synthetic category and rescore it."""
    from mmae.benchmark.cell import cell_folder
    from mmae.config import resolve_config
    from mmae.data.synth.image import generate_synthetic_images
    from mmae.training.train import train

    data = generate_synthetic_images(tmp / "data", seed=0, categories=["disc"], image_size=32,
                                     n_train=12, n_test=8)[0]
    cell = cell_folder(tmp / "bench", "mmae", "disc", 0)
    (cell / "run").mkdir(parents=True)
    cfg = resolve_config("mmae", "cpu", {"epochs": 1, "image_size": 32, "batch_size": 4,
                                         "knn_bank": 64}, data=str(data))
    train(cfg, cell / "run", progress=False)
    (cell / "cell.json").write_text(json.dumps({"model": "mmae", "category": "disc",
                                                "seed": 0}))
    return rescore([tmp / "bench"], tmp / "rescore.jsonl")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="*", type=Path, help="mmae benchmark --out folders")
    p.add_argument("--out", type=Path, default=Path("rescore.jsonl"), help="JSON lines")
    p.add_argument("--only", default=None, help="comma-separated candidate names")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: all)")
    p.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.quick:
        with tempfile.TemporaryDirectory() as tmp:
            n = _quick(Path(tmp))
            print(f"quick: {n} candidate scores")
            return 0 if n == len(IMAGE_CANDIDATES) else 1
    seeds = [int(v) for v in a.seeds.split(",")] if a.seeds else None
    n = rescore(a.folders, a.out, a.only.split(",") if a.only else None, seeds)
    print(f"wrote {n} lines to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
