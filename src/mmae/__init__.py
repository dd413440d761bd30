"""mmae: multi-scale memory-augmented autoencoders for anomaly detection."""

__version__ = "0.1.0"
