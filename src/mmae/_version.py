"""The package version (imported by the subpackages without importing the package root)."""

__version__ = "0.1.0"
