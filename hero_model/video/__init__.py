"""Frozen video encoder (paper Sec. 3.1): sampled RGB frames -> per-frame features v_l (B,T,d) and v_g = mean(v_l).

config.py      VideoEncoderConfig (backbone, weights, preprocessing)
sampling.py    segment_indices / segment_times: the centre frame of 16 equal segments
preprocess.py  uint8 frames of any size -> resized (aspect not kept), normalised tensors
clip_vit.py    open_clip ViT-B/16 visual tower + local CLIP weight files (never downloaded)
tcclip.py      TC-CLIP checkpoint <-> open_clip visual tower mapping
small_cnn.py   the ~1.5 M-parameter per-frame CNN of the embedded default model
encoder.py     FrozenVideoEncoder, VideoFeatures, sample_clip
streaming.py   StreamingVideoEncoder: encode frames as they arrive, assemble v_l from the cache
"""
from .config import (BACKBONES, CLIP_MEAN_255, CLIP_STD_255, IMAGENET_MEAN_255, IMAGENET_STD_255,
                     VideoEncoderConfig)
from .encoder import FrozenVideoEncoder, VideoFeatures, build_video_encoder, sample_clip
from .preprocess import preprocess_frames
from .sampling import NUM_SEGMENTS, segment_indices, segment_times
from .small_cnn import SmallFrameCNN, build_small_cnn, load_small_cnn, save_small_cnn
from .streaming import StreamingVideoEncoder
from .tcclip import (TCCLIPConversionSummary, load_tcclip_checkpoint, open_clip_to_tcclip, save_tcclip_checkpoint,
                     tcclip_to_open_clip)

__all__ = [
    "BACKBONES", "CLIP_MEAN_255", "CLIP_STD_255", "IMAGENET_MEAN_255", "IMAGENET_STD_255", "NUM_SEGMENTS",
    "FrozenVideoEncoder", "SmallFrameCNN", "StreamingVideoEncoder", "TCCLIPConversionSummary", "VideoEncoderConfig",
    "VideoFeatures", "build_small_cnn", "build_video_encoder", "load_small_cnn", "load_tcclip_checkpoint",
    "open_clip_to_tcclip", "preprocess_frames", "sample_clip", "save_small_cnn", "save_tcclip_checkpoint",
    "segment_indices", "segment_times", "tcclip_to_open_clip",
]
