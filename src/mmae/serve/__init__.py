"""HTTP scoring service: ``create_app(inferencer)`` (FastAPI) behind ``mmae serve``."""

from mmae.serve.app import create_app

__all__ = ["create_app"]
