"""Device guards that hold on any machine: IEEE float32 scoring, the torchrun device check, and
``--resume`` answering with the lock first."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmae._version import __version__
from mmae.config import resolve_config
from mmae.device import check_torchrun_devices, eval_mode, evaluation_precision
from mmae.errors import ConfigError
from mmae.inference.inferencer import Inferencer
from mmae.models.registry import create_model
from mmae.runs.lock import RunLock
from mmae.runs.run import Run

CUDA = torch.device("cuda")


def _flags() -> tuple[bool, bool, str]:
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.get_float32_matmul_precision())


@pytest.fixture
def tf32_on():
    before = _flags()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before[:2]
    torch.set_float32_matmul_precision(before[2])


def test_evaluation_precision_turns_tf32_off_and_back(tf32_on) -> None:
    with evaluation_precision():
        assert _flags() == (False, False, "highest")
    assert _flags() == (True, True, "high")
    model = torch.nn.Linear(2, 2)
    with eval_mode(model):
        assert _flags() == (False, False, "highest") and not model.training
    assert _flags() == (True, True, "high") and model.training


def test_every_image_scoring_path_runs_in_ieee_float32(tmp_path, tf32_on) -> None:
    # the model's own map: this hand-made run has no fitted post-processing statistics
    cfg = resolve_config("ae", "cpu", {"image_size": 32, "widths": [4, 4], "map_terms": "model"},
                         data="x")
    cfg.channels = 1
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.save_config(cfg)
    model = create_model(cfg.model, **cfg.model_kwargs())
    run.save_checkpoint({"model": model.state_dict(), "epoch": 1, "mmae_version": __version__})
    inf = Inferencer.load(run, device="cpu")
    seen = []
    inf.model.register_forward_hook(lambda *_: seen.append(_flags()))
    inf.predict_images([np.zeros((32, 32), np.uint8)])
    from torch.utils.data import TensorDataset

    class Items(TensorDataset):
        def __getitem__(self, i):
            return {"image": super().__getitem__(i)[0]}

    list(inf.task.scored(inf.model, Items(torch.zeros(2, 1, 32, 32)), torch.device("cpu")))
    assert seen == [(False, False, "highest")] * 2


def test_torchrun_with_more_processes_than_gpus_is_one_clear_error() -> None:
    check_torchrun_devices(CUDA, local_rank=0, local_world_size=2, device_count=2)
    check_torchrun_devices(torch.device("cpu"), 0, 8, 0)  # gloo on the CPU: any number
    with pytest.raises(ConfigError) as err:
        check_torchrun_devices(CUDA, local_rank=0, local_world_size=2, device_count=1)
    assert str(err.value) == ("torchrun started 2 processes per node but this machine has 1 "
                              "CUDA device; use --nproc_per_node=1 or fewer (or --set "
                              "device=cpu)")
    with pytest.raises(SystemExit) as quiet:  # the other ranks exit without a second line
        check_torchrun_devices(CUDA, local_rank=1, local_world_size=2, device_count=1)
    assert quiet.value.code == 2


def test_torchrun_check_reads_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    with pytest.raises(ConfigError, match="started 4 processes per node .* 3 CUDA devices"):
        check_torchrun_devices(CUDA, device_count=3)


def test_resume_of_a_run_being_written_says_so_first(tmp_path, cli) -> None:
    run = tmp_path / "run"
    run.mkdir()  # just started: no config, no checkpoint yet
    with RunLock(run):
        code, _, err = cli("train", "--resume", run, "--quiet")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmae: error: run folder")
    assert "is being written by pid" in lines[0]
    code, _, err = cli("train", "--resume", run, "--quiet")  # unlocked: the next problem
    assert code == 2 and "being written" not in err
