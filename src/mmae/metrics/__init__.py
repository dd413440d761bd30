"""Evaluation metrics: plain functions on numpy arrays (no torch, no I/O)."""

from mmae.metrics.aupro import au_pro
from mmae.metrics.maps import resize_map_to_mask

__all__ = ["au_pro", "resize_map_to_mask"]
