"""Dataset loaders: ViMo video-motion pairs, ViMo / HumanML3D motion windows, video decoding, crop rules."""
from .cropping import CropRule, floored_length, item_rng, pad_motion, sample_crop, sample_crop_length
from .humanml3d import HumanML3DMotionDataset
from .motion_windows import MotionWindowDataset
from .split_files import PairEntry, read_motion_list, read_pair_list
from .val_split import ValSplit, stratified_val_split
from .validation import DataFileError, DatasetValidationError, SkippedEntry, load_motion
from .video_io import VideoDecodeError, VideoInfo, decode_frames, probe_video, read_video, sample_frames
from .vimo import MIN_MOTION_LENGTH, ViMoDataset, ViMoMotionDataset

__all__ = [
    "CropRule", "floored_length", "item_rng", "pad_motion", "sample_crop", "sample_crop_length",
    "HumanML3DMotionDataset", "MotionWindowDataset", "PairEntry", "read_motion_list", "read_pair_list",
    "ValSplit", "stratified_val_split", "DataFileError", "DatasetValidationError", "SkippedEntry", "load_motion",
    "VideoDecodeError", "VideoInfo", "decode_frames", "probe_video", "read_video", "sample_frames",
    "MIN_MOTION_LENGTH", "ViMoDataset", "ViMoMotionDataset",
]
