"""Camera messages <-> RGB frames: sensor_msgs/Image and sensor_msgs/CompressedImage to (H, W, 3) uint8 RGB.

Raw images (sensor_msgs/Image). Every named 8- and 16-bit encoding of ROS's image_encodings that maps to colour:
rgb8, bgr8, rgba8, bgra8, mono8, the YUV 4:2:2 variants (yuv422 = uyvy: bytes U Y0 V Y1; yuv422_yuy2 = yuyv: bytes
Y0 U Y1 V -- the byte orders cv_bridge uses), the bayer_*8 patterns and their 16-bit counterparts (scaled to 8 bit).
Alpha is dropped; mono is replicated to three channels. The colour conversion itself is rosbags-image's
`image_to_cvimage` (OpenCV's cvtColor tables, the same that cv_bridge uses); what this module adds is the validation
that rosbags leaves out: the row stride `step` (rows may be padded), the exact data size, odd widths for YUV 4:2:2,
big-endian 16-bit data, and empty messages. Generic OpenCV encodings ("8UC3", ...) are refused: their channel order is
unknown, and guessing it would silently swap red and blue.

Compressed images (sensor_msgs/CompressedImage, image_transport's `<base>/compressed`): format "jpeg", "png", or
image_transport's long form "rgb8; jpeg compressed bgr8". The codec is recognised from the data's magic bytes and
must agree with the format string; a JPEG without its end-of-image marker (truncated in transit) is refused rather
than decoded into a half-grey frame, and so is anything OpenCV cannot decode; a JPEG whose structure is intact but
whose entropy-coded data is damaged decodes with artefacts, as in every libjpeg-based ROS tool (libjpeg only warns).
"compressedDepth" (16-bit depth PNG) is not a camera image and is refused.

Every failure raises ImageInputError with a message naming the encoding/format and the sizes involved; the node
turns it into a throttled warning and drops the frame.

The inverse (`image_from_rgb`, `compressed_from_rgb`) is what a camera does; the demo and the tests publish with it.
"""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
from rosbags.image import ImageError, image_to_cvimage

# encoding -> (channels in the message, bytes per channel); YUV 4:2:2 packs 2 bytes per pixel
RAW_ENCODINGS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1), "bgr8": (3, 1), "rgba8": (4, 1), "bgra8": (4, 1), "mono8": (1, 1),
    "yuv422": (2, 1), "uyvy": (2, 1), "yuv422_yuy2": (2, 1), "yuyv": (2, 1),
    "bayer_rggb8": (1, 1), "bayer_bggr8": (1, 1), "bayer_gbrg8": (1, 1), "bayer_grbg8": (1, 1),
    "rgb16": (3, 2), "bgr16": (3, 2), "rgba16": (4, 2), "bgra16": (4, 2), "mono16": (1, 2),
    "bayer_rggb16": (1, 2), "bayer_bggr16": (1, 2), "bayer_gbrg16": (1, 2), "bayer_grbg16": (1, 2),
}
YUV422_ENCODINGS = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")
JPEG_MAGIC, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ImageInputError(ValueError):
    """A camera message that cannot be turned into an RGB frame. kind: 'encoding' (unknown or unsupported encoding
    or format), 'empty', 'size' (data size, step or width do not fit) or 'corrupt' (undecodable compressed data);
    the message says exactly what is wrong."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image (any object with height, width, encoding, is_bigendian, step, data) -> (H, W, 3) uint8 RGB."""
    encoding = str(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(msg.data, dtype=np.uint8) if len(msg.data) else np.empty(0, np.uint8)
    if encoding not in RAW_ENCODINGS:
        hint = (" (generic OpenCV encodings have no channel order; publish rgb8/bgr8)"
                if encoding[:1].isdigit() else "")
        raise ImageInputError("encoding", f"unknown image encoding {encoding!r}{hint}; supported: "
                                          f"{', '.join(RAW_ENCODINGS)}")
    if height == 0 or width == 0 or data.size == 0:
        raise ImageInputError("empty", f"empty {encoding} image: {width}x{height} with {data.size} data bytes")
    channels, itemsize = RAW_ENCODINGS[encoding]
    row_bytes = width * channels * itemsize
    if encoding in YUV422_ENCODINGS and width % 2:
        raise ImageInputError("size", f"{encoding} image has odd width {width}: YUV 4:2:2 shares chroma between "
                                      "pixel pairs")
    if step == 0:  # some drivers leave step unset for packed rows
        step = row_bytes
    if step < row_bytes:
        raise ImageInputError("size", f"{encoding} image: step {step} is shorter than a row ({width} px x "
                                      f"{channels} ch x {itemsize} B = {row_bytes} B)")
    if data.size != step * height:
        raise ImageInputError("size", f"{encoding} image {width}x{height}: data has {data.size} bytes, expected "
                                      f"step {step} x height {height} = {step * height}")
    packed = np.ascontiguousarray(data.reshape(height, step)[:, :row_bytes])  # (H, row_bytes), padding dropped
    # rosbags-image reads the packed rows by duck typing (it ignores `step`, hence the repacking above), swaps
    # big-endian 16-bit data and converts the colour space.
    view = SimpleNamespace(height=height, width=width, encoding=encoding, is_bigendian=msg.is_bigendian,
                           data=packed.reshape(-1))
    try:
        rgb = image_to_cvimage(view, "rgb8")
    except (ImageError, cv2.error) as exc:
        raise ImageInputError("encoding", f"cannot convert {encoding} {width}x{height} to rgb8: {exc}") from exc
    return np.ascontiguousarray(rgb, dtype=np.uint8)                         # (H, W, 3), owns its memory


def compressed_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (format, data) -> (H, W, 3) uint8 RGB."""
    fmt = str(msg.format).strip().lower()
    data = np.frombuffer(msg.data, dtype=np.uint8) if len(msg.data) else np.empty(0, np.uint8)
    if "compresseddepth" in fmt:
        raise ImageInputError("encoding", f"compressed format {msg.format!r} is a depth image, not a camera image")
    if data.size == 0:
        raise ImageInputError("empty", f"empty compressed image (format {msg.format!r}, 0 data bytes)")
    head = data[:8].tobytes()
    codec = "jpeg" if head.startswith(JPEG_MAGIC) else "png" if head.startswith(PNG_MAGIC) else None
    said = "jpeg" if ("jpeg" in fmt or "jpg" in fmt) else "png" if "png" in fmt else None
    if said is None and fmt:
        raise ImageInputError("encoding", f"unsupported compressed format {msg.format!r} (jpeg or png expected)")
    if codec is None:
        raise ImageInputError("corrupt", f"compressed data ({data.size} bytes, format {msg.format!r}) is neither "
                                         f"JPEG nor PNG (starts with {head[:4].hex()})")
    if said is not None and said != codec:
        raise ImageInputError("encoding", f"format says {said} but the data is {codec}")
    if codec == "jpeg" and not data[-2:].tobytes() == JPEG_END:
        raise ImageInputError("corrupt", f"corrupt JPEG: {data.size} bytes without the end-of-image marker "
                                         "(truncated?)")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)                                 # (H, W, 3) BGR, or None
    if bgr is None or bgr.size == 0:
        raise ImageInputError("corrupt", f"corrupt {codec}: OpenCV cannot decode {data.size} bytes")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def message_to_rgb(msg) -> np.ndarray:
    """Either message type -> (H, W, 3) uint8 RGB (CompressedImage is recognised by its `format` field)."""
    return compressed_to_rgb(msg) if hasattr(msg, "format") else image_to_rgb(msg)


# ------------------------------------------------------------------------------------ the camera side (inverse)

_FROM_RGB = {
    "rgb8": None, "bgr8": cv2.COLOR_RGB2BGR, "rgba8": cv2.COLOR_RGB2RGBA, "bgra8": cv2.COLOR_RGB2BGRA,
    "mono8": cv2.COLOR_RGB2GRAY, "yuv422": cv2.COLOR_RGB2YUV_UYVY, "uyvy": cv2.COLOR_RGB2YUV_UYVY,
    "yuv422_yuy2": cv2.COLOR_RGB2YUV_YUY2, "yuyv": cv2.COLOR_RGB2YUV_YUYV,
}


def image_from_rgb(rgb: np.ndarray, encoding: str = "rgb8", stamp=None, frame_id: str = "camera",
                   row_padding: int = 0):
    """(H, W, 3) uint8 RGB -> sensor_msgs/Image in an 8-bit encoding; `row_padding` extra bytes per row (step)."""
    from sensor_msgs.msg import Image

    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image_from_rgb: expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if encoding not in _FROM_RGB:
        raise ValueError(f"image_from_rgb: encoding {encoding!r} not one of {', '.join(_FROM_RGB)}")
    code = _FROM_RGB[encoding]
    pixels = rgb if code is None else cv2.cvtColor(np.ascontiguousarray(rgb), code)
    height, width = rgb.shape[:2]
    rows = np.ascontiguousarray(pixels).reshape(height, -1)                   # (H, W * bytes per pixel)
    if row_padding:
        rows = np.concatenate([rows, np.zeros((height, row_padding), np.uint8)], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=rows.shape[1])
    msg.data = rows.tobytes()  # bytes, not the array: rclpy converts a numpy array element by element (slow)
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def compressed_from_rgb(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90, stamp=None,
                        frame_id: str = "camera"):
    """(H, W, 3) uint8 RGB -> sensor_msgs/CompressedImage ("jpeg" or "png")."""
    from sensor_msgs.msg import CompressedImage

    if fmt not in ("jpeg", "png"):
        raise ValueError(f"compressed_from_rgb: fmt must be 'jpeg' or 'png', got {fmt!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR),
                               params)
    if not ok:
        raise ValueError(f"compressed_from_rgb: OpenCV could not encode a {np.shape(rgb)} frame as {fmt}")
    msg = CompressedImage(format=fmt)
    msg.data = encoded.tobytes()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg
