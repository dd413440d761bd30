"""Shared fixtures: tiny image folders and a helper to run the CLI in-process."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmae.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    """``benchmarks/<script> args`` in a subprocess on this tree's sources (one torch thread)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          env=env, capture_output=True, text=True, timeout=600)


def write_tiny_mvtec(root: Path, n_train: int = 12, n_test: int = 6, size: int = 32,
                     seed: int = 0) -> Path:
    """A tiny MVTec-layout category: smooth gradients as normal, bright squares as defects."""
    rng = np.random.default_rng(seed)
    cat = root / "tiny"
    yy, xx = np.mgrid[0:size, 0:size] / size

    def normal() -> np.ndarray:
        a, b = rng.uniform(0.2, 0.8, 2)
        img = 0.5 * (a * xx + b * yy) + 0.2 + rng.normal(0, 0.01, (size, size))
        return (np.clip(img, 0, 1) * 255).astype(np.uint8)

    (cat / "train" / "good").mkdir(parents=True)
    for i in range(n_train):
        Image.fromarray(normal()).save(cat / "train" / "good" / f"{i:03d}.png")
    for d in ("good", "spot"):
        (cat / "test" / d).mkdir(parents=True)
    (cat / "ground_truth" / "spot").mkdir(parents=True)
    for i in range(n_test):
        Image.fromarray(normal()).save(cat / "test" / "good" / f"{i:03d}.png")
        img = normal()
        mask = np.zeros((size, size), np.uint8)
        y, x = rng.integers(4, size - 12, 2)
        img[y : y + 8, x : x + 8] = 255
        mask[y : y + 8, x : x + 8] = 255
        Image.fromarray(img).save(cat / "test" / "spot" / f"{i:03d}.png")
        Image.fromarray(mask).save(cat / "ground_truth" / "spot" / f"{i:03d}_mask.png")
    return cat


class _TinyImages:
    """Smooth gradients as normal images, a bright 8x8 square as the defect (with its mask)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = np.random.default_rng(seed)
        self.yy, self.xx = np.mgrid[0:size, 0:size] / size

    def normal(self) -> np.ndarray:
        a, b = self.rng.uniform(0.2, 0.8, 2)
        img = 0.5 * (a * self.xx + b * self.yy) + 0.2 + self.rng.normal(0, 0.01, self.yy.shape)
        return (np.clip(img, 0, 1) * 255).astype(np.uint8)

    def defect(self, mask_value: int = 255) -> tuple[np.ndarray, np.ndarray]:
        img, s = self.normal(), self.size
        mask = np.zeros((s, s), np.uint8)
        y, x = self.rng.integers(4, s - 12, 2)
        img[y : y + 8, x : x + 8] = 255
        mask[y : y + 8, x : x + 8] = mask_value
        return img, mask


def _save(img: np.ndarray, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).convert("RGB" if path.suffix == ".JPG" else "L").save(path)
    return path.name


def write_tiny_visa(root: Path, categories: tuple[str, ...] = ("candle",), n_train: int = 10,
                    n_test: int = 4, size: int = 32, seed: int = 0) -> Path:
    """A tiny VisA root as downloaded: ``<cat>/Data/Images/{Normal,Anomaly}/*.JPG``,
    ``<cat>/Data/Masks/Anomaly/*.png`` (mask value 1, as VisA's masks: any non-zero is a defect),
    ``<cat>/image_anno.csv`` (defect types: ``spot`` for even anomalies, ``"spot, scratch"`` for
    odd ones) and the split file ``split_csv/1cls.csv``. Per category: ``n_train`` normal
    training images, ``n_test`` normal and ``n_test`` anomalous test images."""
    gen = _TinyImages(size, seed)
    rows = ["object,split,label,image,mask"]
    for cat in categories:
        data = root / cat / "Data"
        anno = ["image,label,mask"]
        for i in range(n_train + n_test):
            rel = f"{cat}/Data/Images/Normal/{i:04d}.JPG"
            _save(gen.normal(), root / rel)
            rows.append(f"{cat},{'train' if i < n_train else 'test'},normal,{rel},")
            anno.append(f"{rel},normal,")
        for i in range(n_test):
            img, mask = gen.defect(mask_value=1)
            rel = f"{cat}/Data/Images/Anomaly/{i:03d}.JPG"
            mrel = f"{cat}/Data/Masks/Anomaly/{i:03d}.png"
            _save(img, root / rel)
            _save(mask, root / mrel)
            rows.append(f"{cat},test,anomaly,{rel},{mrel}")
            anno.append(f"{rel},{'spot' if i % 2 == 0 else chr(34) + 'spot, scratch' + chr(34)},"
                        f"{mrel}")
        (data.parent / "image_anno.csv").write_text("\n".join(anno) + "\n")
    (root / "split_csv").mkdir(parents=True, exist_ok=True)
    (root / "split_csv" / "1cls.csv").write_text("\n".join(rows) + "\n")
    return root


def write_tiny_ad2(root: Path, category: str = "can", n_train: int = 10, n_val: int = 4,
                   n_test: int = 4, n_private: int = 3, size: int = 32, seed: int = 0) -> Path:
    """A tiny MVTec AD 2 category as downloaded: ``train/good``, ``validation/good``,
    ``test_public/{good,bad}``, ``test_public/ground_truth/bad/<stem>_mask.png`` and the
    unlabelled ``test_private`` and ``test_private_mixed``."""
    gen = _TinyImages(size, seed)
    cat = root / category
    for i in range(n_train):
        _save(gen.normal(), cat / "train" / "good" / f"{i:03d}_regular.png")
    for i in range(n_val):
        _save(gen.normal(), cat / "validation" / "good" / f"{i:03d}_regular.png")
    for i in range(n_test):
        _save(gen.normal(), cat / "test_public" / "good" / f"{i:03d}_regular.png")
        img, mask = gen.defect()
        _save(img, cat / "test_public" / "bad" / f"{i:03d}_regular.png")
        _save(mask, cat / "test_public" / "ground_truth" / "bad" / f"{i:03d}_regular_mask.png")
    for i in range(n_private):
        _save(gen.defect()[0] if i % 2 else gen.normal(), cat / "test_private" / f"{i:03d}.png")
        _save(gen.normal(), cat / "test_private_mixed" / f"{i:03d}_overexposed.png")
    return cat


# `mmae benchmark` settings that make a cell train in about a second.
BENCH_FAST = ["--set", "epochs=1", "--set", "image_size=32", "--set", "batch_size=8",
              "--set", "widths=[8,8,8]", "--set", "latent_dim=8", "--set", "memory_size=8"]


def write_two_categories(root: Path, n_test: int) -> Path:
    """Two tiny categories under ``root``: ``tiny`` (an object) and ``grid`` (a texture)."""
    write_tiny_mvtec(root, n_train=8, n_test=n_test)
    write_tiny_mvtec(root / "x", n_train=8, n_test=n_test, seed=1)
    (root / "x" / "tiny").rename(root / "grid")
    (root / "x").rmdir()
    return root


def header_only_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header announces width x height RGB pixels and that holds no pixel data:
    decoding it fails, so a refusal for its size proves nothing was decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def tiny_mvtec(tmp_path: Path) -> Path:
    """A tiny MVTec AD category folder."""
    return write_tiny_mvtec(tmp_path / "data")


@pytest.fixture
def cli(capsys):
    """Run ``mmae ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse --help / usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


# Tests marked `cuda` need a CUDA GPU (`make test-gpu` runs them); elsewhere they are skipped with
# the reason. MMAE_CUDA_TESTS_ON_CPU=1 runs their logic on the CPU instead (a dry run of the
# tests themselves: nothing about the GPU is checked).
CUDA_TESTS_ON_CPU = os.environ.get("MMAE_CUDA_TESTS_ON_CPU") == "1"


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available() or CUDA_TESTS_ON_CPU:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False here "
                                   "(`make test-gpu` on a GPU machine runs these)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
