"""Datasets: MVTec AD and folder images (`mmae.data.image`), video benchmarks (`mmae.data.video`),
and the synthetic generators (`mmae.data.synth.image`, `mmae.data.synth.video`).

The entry point: :func:`detect`, :func:`categories`, :func:`open_dataset`, :func:`describe`.
"""

from mmae.data.entry import categories, describe, detect, open_dataset

__all__ = ["categories", "describe", "detect", "open_dataset"]
