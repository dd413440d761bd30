"""``mmae export``: a trained run as an ONNX model that matches the torch model.

The exported graph takes ``image`` (B, C, S, S) in [0, 1] (or ``clip`` (B, 1, T, S, S) in [-1, 1]
for video models) with a dynamic batch size and returns ``recon``, ``anomaly_map`` (raw squared
error, before the optional smoothing of ``mmae test``) and ``pred_score`` (the raw map's maximum).
Needs the ``onnx`` extra (``pip install 'mmae[onnx]'``): onnx, onnxscript (the torch.export-based
exporter) and onnxruntime (to check the export).
"""

from __future__ import annotations

import importlib.util
import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmae.engine.checkpoint import atomic_write_bytes
from mmae.engine.runs import load_run
from mmae.errors import ConfigError, RunFolderError

OUTPUTS = ("recon", "anomaly_map", "pred_score")


class _Exportable(torch.nn.Module):
    """Eval-mode wrapper returning the three tensors of ``ModelOutput`` as a tuple."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(x)
        return out.recon, out.anomaly_map, out.pred_score


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"mmae export needs {', '.join(missing)}: pip install 'mmae[onnx]'")


def example_input(cfg: Any, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A deterministic input of the run's shape and range."""
    g = torch.Generator().manual_seed(seed)
    s = cfg.image_size
    if cfg.kind == "video":
        return torch.rand(batch, 1, cfg.clip_length, s, s, generator=g) * 2 - 1
    return torch.rand(batch, cfg.channels, s, s, generator=g)


def export_onnx(run: Path, out: Path, opset: int = 18, check: bool = True,
                overwrite: bool = False) -> dict[str, Any]:
    """Export a run to ONNX; with ``check``, compare onnxruntime's outputs with torch's.

    Returns:
        ``{"path", "input", "max_abs_diff": {output: float}}`` (diffs only with ``check``).
    """
    _require("onnx", "onnxscript", *(["onnxruntime"] if check else []))
    out = Path(out)
    if out.exists() and not overwrite:
        raise RunFolderError(f"{out} already exists; choose another --out or pass --overwrite")
    cfg, model, _ = load_run(run, device="cpu")
    wrapper = _Exportable(model).eval()
    x = example_input(cfg)
    name = "clip" if cfg.kind == "video" else "image"
    batch = torch.export.Dim("batch", min=1, max=4096)
    with redirect_stdout(io.StringIO()):  # the exporter prints progress lines
        program = torch.onnx.export(wrapper, (x,), input_names=[name], output_names=list(OUTPUTS),
                                    dynamic_shapes=({0: batch},), opset_version=opset,
                                    dynamo=True)
    buf = io.BytesIO()
    program.save(buf)
    atomic_write_bytes(out, buf.getvalue())
    result: dict[str, Any] = {"path": str(out), "input": name, "opset": opset}
    if check:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        xc = example_input(cfg, batch=3, seed=1)  # another batch size than the export's
        got = sess.run(None, {name: xc.numpy()})
        with torch.no_grad():
            ref = wrapper(xc)
        result["max_abs_diff"] = {k: float(np.abs(g - r.numpy()).max())
                                  for k, g, r in zip(OUTPUTS, got, ref)}
    return result
