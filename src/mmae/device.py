"""Device, mixed precision and distributed (torchrun) set-up."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from mmae.errors import ConfigError


@dataclass(frozen=True)
class Runtime:
    """Where and how a run computes."""

    device: torch.device
    amp_dtype: torch.dtype | None  # bf16 autocast on CUDA, None on CPU
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints progress."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast where enabled, else a no-op context."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Raises ConfigError for an unavailable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"setting device={name!r}: not a device name (auto, cpu, cuda, cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"setting device={name!r}: CUDA is not available on this machine")
    return dev


def check_torchrun_devices(device: torch.device, local_rank: int | None = None,
                           local_world_size: int | None = None,
                           device_count: int | None = None) -> None:
    """Refuse a torchrun launch with more processes per node than CUDA devices.

    Each process of a node takes device ``cuda:LOCAL_RANK``, so ``--nproc_per_node`` must not
    exceed the node's GPUs. Local rank 0 raises the one error line; the other processes exit
    quietly with status 2 (so the message is printed once). Arguments default to torchrun's
    environment and ``torch.cuda.device_count()``.

    Raises:
        ConfigError: on local rank 0, naming both numbers and the fix.
    """
    if device.type != "cuda":
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if local_rank is None else local_rank
    procs = (int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
             if local_world_size is None else local_world_size)
    count = torch.cuda.device_count() if device_count is None else device_count
    if procs <= count:
        return
    if local_rank != 0:
        raise SystemExit(2)
    plural = "s" if count != 1 else ""
    raise ConfigError(
        f"torchrun started {procs} processes per node but this machine has {count} CUDA "
        f"device{plural}; use --nproc_per_node={count} or fewer (or --set device=cpu)")


def setup_runtime(device: str = "auto", amp: str = "auto") -> Runtime:
    """Initialise torch.distributed when launched by ``torchrun`` (NCCL on CUDA, gloo on CPU).

    Raises:
        ConfigError: more processes per node than CUDA devices (:func:`check_torchrun_devices`).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = pick_device(device)
    if world > 1:
        check_torchrun_devices(dev)
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", "0"))
        if dev.type == "cuda":
            dev = torch.device("cuda", local)
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    use_bf16 = amp == "bf16" or (amp == "auto" and dev.type == "cuda")
    if use_bf16 and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        use_bf16 = False
    return Runtime(dev, torch.bfloat16 if use_bf16 else None, rank, world)


def teardown_runtime(rt: Runtime) -> None:
    """Destroy the process group if one was created."""
    if rt.world_size > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def evaluation_precision() -> Iterator[None]:
    """IEEE float32 matmuls and convolutions (TF32 off) inside; the previous settings after.

    PyTorch may use TF32 (10-bit mantissa) for float32 convolutions and matmuls on CUDA; scores
    computed with it differ from the CPU's and ONNX's by up to 1e-4 relative. Every scoring path
    (threshold calibration, ``mmae test``, ``mmae predict``, the Detector, ``mmae serve``)
    evaluates inside this context, so one tolerance holds across devices.
    """
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    precision = torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn
        torch.set_float32_matmul_precision(precision)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put a model in eval mode under no_grad and :func:`evaluation_precision`, restoring its
    mode afterwards."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), evaluation_precision():
            yield model
    finally:
        model.train(was)
