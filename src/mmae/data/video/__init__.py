"""Video anomaly-detection datasets: UCSD Ped1/Ped2, Avenue, ShanghaiTech, "frames" layout.

See ``docs/architecture.md`` (video data contract). Label sources by layout:

* ``ucsd``: ``"ucsd_m_file"`` (``Test/UCSDpedN.m``), ``"ucsd_masks"`` (``TestNNN_gt/*.bmp``)
* ``avenue``: ``"avenue_volLabel"`` (``*_label.mat``), ``"avenue_hasan_mat"`` (``avenue.mat``)
* ``shanghaitech``: ``"shanghaitech_npy"`` (``testing/test_frame_mask/*.npy``)
* ``frames``: ``"frames_mat"`` (``<ds>/<ds>.mat``)
"""

from mmae.data.video.clips import ClipDataset
from mmae.data.video.dataset import VideoDataset, open_video_dataset
from mmae.data.video.describe import describe_video_dataset
from mmae.data.video.layouts import LABEL_SOURCES, LAYOUTS, detect_video_layout
from mmae.data.video.records import VideoRecord

__all__ = [
    "LABEL_SOURCES",
    "LAYOUTS",
    "ClipDataset",
    "VideoDataset",
    "VideoRecord",
    "describe_video_dataset",
    "detect_video_layout",
    "open_video_dataset",
]
