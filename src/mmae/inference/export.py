"""``mmae export``: a trained run as an ONNX model that gives the scores ``mmae predict`` gives.

The graph wraps the model and the run's post-processing module (:mod:`mmae.scoring.postprocess`).
It takes ``image`` (B, C, S, S) in [0, 1] (or ``clip`` (B, 1, T, S, S) in [-1, 1] for video
models) with a dynamic batch size and returns ``recon``, ``anomaly_map`` (post-processed: smoothed
image maps, or per-pixel clip errors) and ``pred_score`` (the image score or clip error). The
model's metadata_props carry ``threshold`` (the run's default threshold), ``threshold_rule``,
``model``, ``kind``, ``image_size``, ``channels``, ``tile_size`` and ``tile_overlap`` (0: the
whole image is resized); a tiled run's graph scores one tile and ``tiling`` says how to cut an
image and stitch the tile maps (:mod:`mmae.scoring.tiled`). They also carry the post-processing
settings and the input contract: ``input_layout``, ``value_range``, ``color`` and ``resize``
(how to bring an image to the model's size as the data pipeline does: area interpolation when
shrinking). Fitted post-processing statistics (``postprocess.pt``) are constants of the graph.
Needs the ``onnx`` extra (``pip install 'mmae[onnx]'``): onnx, onnxscript and onnxruntime (to
check the export).
"""

from __future__ import annotations

import importlib.util
import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmae.data.files import atomic_write_bytes
from mmae.errors import ConfigError, RunFolderError
from mmae.inference.inferencer import Inferencer
from mmae.scoring.postprocess import PostProcess

OUTPUTS = ("recon", "anomaly_map", "pred_score")
#: How a tiled run's graph (one tile) makes an image's map and score (``tiling`` metadata).
TILING = ("the graph scores one tile: cut the image at its own resolution into tile_size "
          "tiles starting every tile_size - tile_overlap pixels (the last tile of a row or "
          "column ends at the image edge), resize each to image_size, run the graph, resize "
          "each anomaly_map back to tile_size (bilinear), blend them with weights "
          "min(1, (i + 0.5) / tile_overlap, (tile_size - i - 0.5) / tile_overlap) along each "
          "axis (product; 1 when tile_overlap is 0) divided by their sum, and reduce the "
          "stitched map with score_reduce for the image score")


class Exportable(torch.nn.Module):
    """Model + post-processing, returning ``(recon, anomaly_map, pred_score)``."""

    def __init__(self, model: torch.nn.Module, post: PostProcess) -> None:
        super().__init__()
        self.model = model
        self.post = post

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, maps, scores = self.post.run(self.model, x)
        return out.recon, maps, scores


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"mmae export needs {', '.join(missing)}: pip install 'mmae[onnx]'")


def metadata(inf: Inferencer) -> dict[str, str]:
    """The ``metadata_props`` of the exported model (strings)."""
    c = inf.config
    meta = {"threshold": "" if inf.threshold is None else repr(float(inf.threshold)),
            "threshold_rule": inf.threshold_source, "model": c.model, "kind": inf.kind,
            "image_size": str(c.image_size), "channels": str(c.channels),
            "smoothing_sigma": str(c.smoothing_sigma), "score_reduce": c.score_reduce,
            "tile_size": str(c.tile_size), "tile_overlap": str(c.tile_overlap),
            **({"tiling": TILING} if inf.tiles is not None else {}),
            "map_terms": c.map_terms, "standardize": c.standardize}
    if inf.kind == "video":
        meta.update({"clip_length": str(c.clip_length), "clip_reduce": c.clip_reduce,
                     "input_layout": f"clip (B, 1, {c.clip_length}, {c.image_size}, "
                                     f"{c.image_size}) float32, frames in time order",
                     "value_range": "[-1, 1] (grey level / 127.5 - 1)",
                     "color": "grayscale (OpenCV's RGB-to-gray weights)"})
    else:
        meta.update({"input_layout": f"image (B, {c.channels}, {c.image_size}, "
                                     f"{c.image_size}) float32, channels first",
                     "value_range": "[0, 1] (uint8 / 255)",
                     "color": "grayscale" if c.channels == 1 else "RGB"})
    meta["resize"] = (f"to {c.image_size} x {c.image_size} (no cropping, aspect ratio not kept): "
                      f"area interpolation when shrinking (cv2.INTER_AREA), bilinear when "
                      f"enlarging (cv2.INTER_LINEAR)")
    if inf.tiles is not None:
        meta["resize"] = ("none: the image keeps its resolution and is cut into tiles of "
                          "tile_size x tile_size (tiling)")
    if inf.task.post_record is not None:
        meta["postprocess_fit"] = str(inf.task.post_record.get("fit_split"))
    return meta


def export_onnx(run: Path, out: Path, opset: int = 18, check: bool = True,
                overwrite: bool = False) -> dict[str, Any]:
    """Export a run to ONNX; with ``check``, compare onnxruntime's outputs with torch's.

    Returns:
        ``{"path", "input", "opset", "threshold", "max_abs_diff": {output: float}}`` (diffs
        only with ``check``).
    """
    _require("onnx", "onnxscript", *(["onnxruntime"] if check else []))
    out = Path(out)
    if out.exists() and not overwrite:
        raise RunFolderError(f"{out} already exists; choose another --out or pass --overwrite")
    inf = Inferencer.load(run, device="cpu")
    wrapper = Exportable(inf.model, inf.post).eval()
    x = inf.task.example_input()
    name = inf.task.input_name
    batch = torch.export.Dim("batch", min=1, max=4096)
    with redirect_stdout(io.StringIO()):  # the exporter prints progress lines
        program = torch.onnx.export(wrapper, (x,), input_names=[name], output_names=list(OUTPUTS),
                                    dynamic_shapes=({0: batch},), opset_version=opset,
                                    dynamo=True)
    proto = program.model_proto
    for key, value in metadata(inf).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write_bytes(out, proto.SerializeToString())
    result: dict[str, Any] = {"path": str(out), "input": name, "opset": opset,
                              "threshold": inf.threshold}
    if check:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        xc = inf.task.example_input(batch=3, seed=1)  # another batch size than the export's
        got = sess.run(None, {name: xc.numpy()})
        with torch.no_grad():
            ref = wrapper(xc)
        result["max_abs_diff"] = {k: float(np.abs(g - r.numpy()).max())
                                  for k, g, r in zip(OUTPUTS, got, ref)}
    return result
