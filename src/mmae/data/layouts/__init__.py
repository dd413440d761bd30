"""Image dataset layouts: the registry (detection, categories, splits) and one module per layout."""

from mmae.data.layouts.registry import (
    ANOMALOUS_DIR_NAMES,
    LAYOUTS,
    MASK_DIR_NAMES,
    NORMAL_DIR_NAMES,
    SPLITS,
    ImageRecord,
    ImageScan,
    Layout,
    get_layout,
    image_categories,
    image_layout,
    is_mvtec_category,
    mvtec_categories,
    predict_folders,
    scan_image_split,
)

__all__ = ["ANOMALOUS_DIR_NAMES", "LAYOUTS", "MASK_DIR_NAMES", "NORMAL_DIR_NAMES", "SPLITS",
           "ImageRecord", "ImageScan", "Layout", "get_layout", "image_categories",
           "image_layout", "is_mvtec_category", "mvtec_categories", "predict_folders",
           "scan_image_split"]
