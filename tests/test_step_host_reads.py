"""The training step's own code never reads a tensor's value on the host (CPU stand-in for the
CUDA zero-sync test in tests/test_cuda.py): ``item``, ``tolist``, ``bool``, ``float``, ``int``,
``cpu`` and ``numpy`` called from mmae's sources during a step fail the test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import mmae
from mmae.config import accepts_setting, resolve_config
from mmae.device import Runtime
from mmae.models.registry import get_spec, list_models
from mmae.training.step import TrainStep, make_optimizer
from mmae.training.train import build_model

SRC = str(Path(mmae.__file__).resolve().parent)
READS = ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy")
TINY = {"image_size": 32, "widths": [4, 8, 8, 8], "latent_dim": 16, "memory_size": 10,
        "clip_length": 8}


@pytest.fixture
def no_reads_from_mmae(monkeypatch):
    """Within the fixture's ``armed`` context, a value read from mmae's code raises."""
    state = {"armed": False, "seen": []}

    def guard(name):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if state["armed"] and caller.startswith(SRC):
                state["seen"].append(f"{name} from {caller}:{sys._getframe(1).f_lineno}")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, read)

    for name in READS:
        guard(name)
    return state


@pytest.mark.parametrize("model", [m for m in list_models() if m != "patch_pca"])
def test_a_step_reads_nothing_back(no_reads_from_mmae, model) -> None:
    sets = {k: v for k, v in TINY.items() if accepts_setting(model, k)}
    cfg = resolve_config(model, "cpu", {**sets, "grad_clip": 1.0})
    cfg.channels = 3 if get_spec(model).kind == "image" else 1
    net = build_model(cfg)
    rt = Runtime(torch.device("cpu"), None)
    step = TrainStep(net, net, make_optimizer(net, 1e-3, 0.0, rt.device), rt, cfg.grad_clip)
    g = torch.Generator().manual_seed(0)
    shape = ((2, 3, 32, 32) if cfg.kind == "image" else (2, 1, 8, 32, 32))
    net.train()
    step(step.prepare(torch.rand(*shape, generator=g)))  # first step: set-up
    no_reads_from_mmae["armed"] = True
    for _ in range(2):
        step(step.prepare(torch.rand(*shape, generator=g)))
    no_reads_from_mmae["armed"] = False
    assert no_reads_from_mmae["seen"] == []
    no_reads_from_mmae["armed"] = True  # the guard sees a read: the epoch's one, at its end
    step.stats.finite()
    no_reads_from_mmae["armed"] = False
    assert [r.split(" from ")[0] for r in no_reads_from_mmae["seen"]] == ["__bool__"]
    assert step.stats.seen == 6 and torch.isfinite(torch.tensor(step.stats.summary()["loss"]))
