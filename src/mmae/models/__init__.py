"""Models. Importing this package registers every model with the factory."""

from mmae.models.output import ModelOutput
from mmae.models.registry import create_model, get_spec, list_models, register_model

# Model families: importing them runs their @register_model decorators.
from mmae.models import mmae as _mmae  # noqa: E402,F401  isort: skip
from mmae.models import mmae3d as _mmae3d  # noqa: E402,F401  isort: skip
from mmae.models import patch_pca as _patch_pca  # noqa: E402,F401  isort: skip
from mmae.models import ssim_ae as _ssim_ae  # noqa: E402,F401  isort: skip
from mmae.models import vae as _vae  # noqa: E402,F401  isort: skip

__all__ = ["ModelOutput", "create_model", "get_spec", "list_models", "register_model"]
