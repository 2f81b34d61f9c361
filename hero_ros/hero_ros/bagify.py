"""Turn ViMo-Synth clips or plain videos into a standard rosbag2 bag for replay evaluation.

    python -m hero_ros.bagify SYNTH_DIR_OR_VIDEOS --out BAG [--storage mcap|sqlite3] [--split test] [--limit N]
                              [--encoding rgb8|jpeg] [--topic /camera/image_raw] [--gap-s 1.0]

Sources: a ViMo-Synth (or ViMo) dataset root -- the pairs of `<split>.txt` in file order, labelled from labels.json
--, a single video file, or a folder of videos (every *.mp4/*.avi/*.mkv/*.mov/*.webm below it, sorted by path).

The bag (written with `rosbags`, no ROS install needed; `ros2 bag play BAG` replays it on a real ROS 2):
  <topic>              sensor_msgs/msg/Image, rgb8, data = the decoded frame's bytes        (--encoding rgb8)
  <topic>/compressed   sensor_msgs/msg/CompressedImage, "rgb8; jpeg compressed bgr8"          (--encoding jpeg)
  --labels-topic       std_msgs/msg/String, one JSON object per clip, logged at the clip's first frame:
                       clip_id, video, fps, frames, start_ns/end_ns (header stamps of its first/last frame), and
                       from labels.json broad_category, subcategory, emotion, reaction, plausible_reactions, split

Timeline: clips follow one another at their own frame rate, separated by `gap_s` of silence; frame i of a clip
starting at t is stamped t + i / fps, and the bag's log time equals the header stamp (as `ros2 bag record` gives
for a live camera). The first stamp is fixed (`start_s`), never the wall clock, so the same input gives the same
bytes. Stamp zero is avoided on purpose: ROS consumers (the reaction node among them) read it as "no stamp".
Message definitions and type hashes come from rosbags' ROS 2 Kilted type store; metadata.yaml is version 9.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
STORAGES = ("mcap", "sqlite3")
ENCODINGS = ("rgb8", "jpeg")
IMAGE, COMPRESSED, STRING = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "std_msgs/msg/String"
JPEG_FORMAT = "rgb8; jpeg compressed bgr8"   # image_transport's compressed publisher writes exactly this
LABEL_FIELDS = ("broad_category", "subcategory", "action", "emotion", "reaction", "plausible_reactions", "split")
MAX_CLIP_BYTES = 4 * 2**30                   # one clip is decoded into memory at a time
INFINITE = (9223372036, 854775807)           # RMW_DURATION_INFINITE as rosbag2 writes it into metadata.yaml


class BagifyError(ValueError):
    """Bad input to bagify (missing file or split, undecodable video, output exists); the message names it."""


@dataclass
class BagSpec:
    """How the bag is laid out.

    storage: "mcap" (ros2 bag's default since Iron) or "sqlite3".
    encoding: "rgb8" writes sensor_msgs/Image with the raw frame; "jpeg" writes sensor_msgs/CompressedImage on
        `<topic>/compressed` (image_transport's naming), about 10x smaller, lossy.
    topic: camera base topic (absolute).
    labels_topic: topic of the per-clip label JSON (absolute).
    frame_id: header frame of the images (the camera's optical frame, REP 103).
    gap_s: camera silence between two clips, seconds (>= 0); lets a replay trigger at each clip's end.
    start_s: header stamp of the first frame, seconds since the epoch (> 0: stamp zero means "unstamped" in ROS).
    jpeg_quality: JPEG quality 1..100 for encoding "jpeg".
    """

    storage: str = "mcap"
    encoding: str = "rgb8"
    topic: str = "/camera/image_raw"
    labels_topic: str = "/vimo_synth/labels"
    frame_id: str = "camera_optical_frame"
    gap_s: float = 1.0
    start_s: float = 1_000_000_000.0
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ValueError(f"BagSpec.storage must be one of {STORAGES}, got {self.storage!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"BagSpec.encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        for name in ("topic", "labels_topic"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith("/") or value.endswith("/") or " " in value:
                raise ValueError(f"BagSpec.{name} must be an absolute topic name like /camera/image_raw, got "
                                 f"{value!r}")
        if not (self.gap_s >= 0.0 and np.isfinite(self.gap_s)):
            raise ValueError(f"BagSpec.gap_s must be a finite number >= 0, got {self.gap_s!r}")
        if not (self.start_s > 0.0 and np.isfinite(self.start_s)):
            raise ValueError(f"BagSpec.start_s must be > 0 (stamp zero reads as 'no stamp'), got {self.start_s!r}")
        if not (isinstance(self.jpeg_quality, int) and 1 <= self.jpeg_quality <= 100):
            raise ValueError(f"BagSpec.jpeg_quality must be an int in 1..100, got {self.jpeg_quality!r}")

    @property
    def camera_topic(self) -> str:
        return f"{self.topic}/compressed" if self.encoding == "jpeg" else self.topic

    @property
    def camera_type(self) -> str:
        return COMPRESSED if self.encoding == "jpeg" else IMAGE


@dataclass(frozen=True)
class Clip:
    """One video to put into the bag: its id (the pair id for a dataset), file, and labels.json entry if any."""

    clip_id: str
    video: Path
    label: dict | None = None
    name: str = ""        # the video as the labels name it: relative to the dataset root / videos folder


# --------------------------------------------------------------------------------------------- sources

def find_clips(source: str | Path, split: str = "test", limit: int | None = None) -> list[Clip]:
    """The clips of a dataset root (its `<split>.txt`), a video file, or a folder of videos, in bag order."""
    source = Path(source)
    if limit is not None and limit < 1:
        raise BagifyError(f"--limit must be >= 1, got {limit}")
    if not source.exists():
        raise BagifyError(f"{source}: no such file or folder")
    if source.is_file():
        clips = [Clip(source.stem, source, name=source.name)]
    elif any((source / name).is_file() for name in ("labels.json", f"{split}.txt", "train.txt", "test.txt")):
        clips = _dataset_clips(source, split)
    else:
        videos = sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        if not videos:
            raise BagifyError(f"{source}: no videos ({', '.join(VIDEO_SUFFIXES)}) and no dataset split files")
        clips = [Clip(str(p.relative_to(source).with_suffix("")).replace("/", "__"), p, name=str(p.relative_to(source)))
                 for p in videos]
    return clips[:limit] if limit is not None else clips


def _dataset_clips(root: Path, split: str) -> list[Clip]:
    split_file = root / f"{split}.txt"
    if not split_file.is_file():
        have = sorted(p.stem for p in root.glob("*.txt") if not p.stem.startswith("motions_"))
        raise BagifyError(f"{split_file}: split file not found (--split {split}; this dataset has: "
                          f"{', '.join(have) or 'none'})")
    labels = {}
    if (root / "labels.json").is_file():
        try:
            labels = json.loads((root / "labels.json").read_text())
        except json.JSONDecodeError as exc:
            raise BagifyError(f"{root / 'labels.json'}: not valid JSON ({exc})") from exc
    clips = []
    for number, line in enumerate(split_file.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise BagifyError(f"{split_file}:{number}: expected '<video> <motion>', got {line!r}")
        video, motion = parts
        pair_id = Path(motion).stem
        label = labels.get(pair_id)
        if label is None and Path(video).parent.name:  # ViMo without labels.json: videos/<subcategory>/<id>.mp4
            label = {"subcategory": Path(video).parent.name}
        clips.append(Clip(pair_id, root / video, label, name=video))
    if not clips:
        raise BagifyError(f"{split_file}: the split is empty")
    return clips


# --------------------------------------------------------------------------------------------- messages

def typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def offered_qos(reliable: bool = True, depth: int = 10):
    """The publisher QoS stored with a topic (ros2 bag play offers it again): reliable matches every subscriber."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    infinite = QosTime(*INFINITE)
    return [Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
                QosDurability.VOLATILE, infinite, infinite, QosLiveliness.AUTOMATIC, infinite, False)]


class MessageFactory:
    """CDR bytes of the bag's messages, built with rosbags' type store (no rclpy needed)."""

    def __init__(self, spec: BagSpec):
        self.spec = spec
        self.store = typestore()
        t = self.store.types
        self.Time, self.Header = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]
        self.Image, self.Compressed, self.String = t[IMAGE], t[COMPRESSED], t[STRING]

    def header(self, stamp_ns: int):
        return self.Header(stamp=self.Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
                           frame_id=self.spec.frame_id)

    def image(self, rgb: np.ndarray, stamp_ns: int) -> bytes:
        """(H, W, 3) uint8 RGB -> serialized Image or CompressedImage."""
        height, width = rgb.shape[:2]
        if self.spec.encoding == "rgb8":
            msg = self.Image(header=self.header(stamp_ns), height=height, width=width, encoding="rgb8",
                             is_bigendian=0, step=width * 3, data=np.ascontiguousarray(rgb).reshape(-1))
            return bytes(self.store.serialize_cdr(msg, IMAGE))
        import cv2

        ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, self.spec.jpeg_quality])
        if not ok:
            raise BagifyError(f"JPEG encoding failed for a {width}x{height} frame")
        msg = self.Compressed(header=self.header(stamp_ns), format=JPEG_FORMAT, data=jpeg.reshape(-1))
        return bytes(self.store.serialize_cdr(msg, COMPRESSED))

    def string(self, text: str) -> bytes:
        return bytes(self.store.serialize_cdr(self.String(data=text), STRING))


def clip_label(clip: Clip, fps: float, frames: int, start_ns: int, end_ns: int) -> dict:
    """The JSON published on the labels topic for one clip (labels.json fields are None when unknown)."""
    label = clip.label or {}
    entry = {"clip_id": clip.clip_id, "video": clip.name or clip.video.name, "fps": fps, "frames": frames,
             "start_ns": start_ns, "end_ns": end_ns}
    entry.update({name: label.get(name) for name in LABEL_FIELDS})
    return entry


# --------------------------------------------------------------------------------------------- writing

def write_bag(clips: list[Clip], out: str | Path, spec: BagSpec, progress: bool = False) -> dict:
    """Write `clips` into a new bag folder `out` (must not exist); returns a summary."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from hero_model.data.video_io import VideoDecodeError, probe_video, read_video

    out = Path(out)
    if out.exists():
        raise BagifyError(f"{out} exists already; choose a new --out (a bag is a folder written once)")
    if not clips:
        raise BagifyError("no clips to write")
    factory = MessageFactory(spec)
    plugin = StoragePlugin.MCAP if spec.storage == "mcap" else StoragePlugin.SQLITE3
    started = time.perf_counter()
    first_ns = next_ns = int(round(spec.start_s * 1e9))
    frames_total, last_ns = 0, first_ns
    writer = Writer(out, version=9, storage_plugin=plugin)
    writer.open()
    try:
        camera = writer.add_connection(spec.camera_topic, spec.camera_type, typestore=factory.store,
                                       offered_qos_profiles=offered_qos())
        labels = writer.add_connection(spec.labels_topic, STRING, typestore=factory.store,
                                       offered_qos_profiles=offered_qos())
        for k, clip in enumerate(clips):
            try:
                info = probe_video(clip.video)
                decoded_bytes = info.num_frames * info.width * info.height * 3
                if decoded_bytes > MAX_CLIP_BYTES:
                    raise BagifyError(f"{clip.video}: {info.num_frames} frames of {info.width}x{info.height} are "
                                      f"{decoded_bytes / 2**30:.1f} GiB decoded; bagify holds one clip in memory "
                                      f"(at most {MAX_CLIP_BYTES / 2**30:.0f} GiB): cut the video into clips first")
                frames, fps = read_video(clip.video)                       # (T, H, W, 3) uint8 RGB
            except VideoDecodeError as exc:
                raise BagifyError(str(exc)) from exc
            if not fps > 0:
                raise BagifyError(f"{clip.video}: the video stream has no frame rate")
            stamps = next_ns + np.round(np.arange(len(frames)) * 1e9 / fps).astype(np.int64)
            label = clip_label(clip, float(fps), len(frames), int(stamps[0]), int(stamps[-1]))
            writer.write(labels, int(stamps[0]), factory.string(json.dumps(label, sort_keys=True)))
            for rgb, stamp in zip(frames, stamps.tolist()):
                writer.write(camera, stamp, factory.image(rgb, stamp))
            frames_total += len(frames)
            last_ns = int(stamps[-1])
            next_ns = last_ns + int(round(1e9 / fps)) + int(round(spec.gap_s * 1e9))
            if progress:
                print(f"[bagify] {k + 1}/{len(clips)} {clip.clip_id}: {len(frames)} frames at {fps:g} fps",
                      file=sys.stderr, flush=True)
    except BaseException:
        writer.abort()
        shutil.rmtree(out, ignore_errors=True)                              # no half-written bag left behind
        raise
    writer.close()
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    return {"bag": str(out), "storage": spec.storage, "camera_topic": spec.camera_topic,
            "camera_type": spec.camera_type, "labels_topic": spec.labels_topic, "clips": len(clips),
            "frames": frames_total, "bag_seconds": (last_ns - first_ns) / 1e9,
            "bytes": size, "write_seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hero_ros.bagify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="ViMo-Synth/ViMo dataset root, a video file, or a folder of videos")
    parser.add_argument("--out", type=Path, required=True, help="bag folder to create")
    parser.add_argument("--storage", choices=STORAGES, default="mcap", help="storage plugin (default mcap)")
    parser.add_argument("--split", default="test", help="dataset split file <split>.txt (default test)")
    parser.add_argument("--limit", type=int, help="first N clips only")
    parser.add_argument("--encoding", choices=ENCODINGS, default="rgb8", help="rgb8 Image or jpeg CompressedImage")
    parser.add_argument("--topic", default=BagSpec.topic, help=f"camera base topic (default {BagSpec.topic})")
    parser.add_argument("--labels-topic", default=BagSpec.labels_topic,
                        help=f"per-clip label JSON topic (default {BagSpec.labels_topic})")
    parser.add_argument("--frame-id", default=BagSpec.frame_id, help="image header frame_id")
    parser.add_argument("--gap-s", type=float, default=BagSpec.gap_s, help="silence between clips (default 1.0)")
    parser.add_argument("--start-s", type=float, default=BagSpec.start_s,
                        help="header stamp of the first frame, s since the epoch (default 1e9: fixed, reproducible)")
    parser.add_argument("--jpeg-quality", type=int, default=BagSpec.jpeg_quality, help="JPEG quality (default 90)")
    parser.add_argument("--quiet", action="store_true", help="no per-clip progress")
    args = parser.parse_args(argv)
    try:
        spec = BagSpec(storage=args.storage, encoding=args.encoding, topic=args.topic, labels_topic=args.labels_topic,
                       frame_id=args.frame_id, gap_s=args.gap_s, start_s=args.start_s, jpeg_quality=args.jpeg_quality)
        clips = find_clips(args.source, args.split, args.limit)
        summary = write_bag(clips, args.out, spec, progress=not args.quiet)
    except (BagifyError, ValueError) as exc:
        print(f"bagify: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {summary['bag']} ({summary['storage']}): {summary['clips']} clips, {summary['frames']} frames on "
          f"{summary['camera_topic']} ({summary['camera_type']}), labels on {summary['labels_topic']}; "
          f"{summary['bag_seconds']:.1f} s of camera time, {summary['bytes'] / 1e6:.1f} MB in "
          f"{summary['write_seconds']:.1f} s ({summary['frames'] / max(summary['write_seconds'], 1e-9):.0f} frames/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
