"""Models. Importing this package registers every model with the factory."""

from mmae.models.output import ModelOutput
from mmae.models.registry import create_model, get_spec, list_models, register_model

__all__ = ["ModelOutput", "create_model", "get_spec", "list_models", "register_model"]
