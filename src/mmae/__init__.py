"""mmae: multi-scale memory-augmented autoencoders for anomaly detection."""

from mmae._version import __version__
from mmae.models.registry import create_model, list_models


def __getattr__(name: str):
    # ``mmae.Detector`` is imported lazily: training and inference import mmae itself.
    if name == "Detector":
        from mmae.detector import Detector

        return Detector
    raise AttributeError(f"module 'mmae' has no attribute {name!r}")


__all__ = ["Detector", "__version__", "create_model", "list_models"]
