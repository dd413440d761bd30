"""Shared fixtures: tiny image folders and a helper to run the CLI in-process."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmae.cli.main import main


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
