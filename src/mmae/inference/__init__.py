"""Scoring with a trained run: the Inferencer, mmae predict (images, video), ONNX export."""

from mmae.inference.inferencer import Inferencer

__all__ = ["Inferencer"]
