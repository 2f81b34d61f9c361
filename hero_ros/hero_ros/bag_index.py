"""What a replay needs to know about a rosbag2 bag before playing it: the camera topic, every camera message's log
time and header stamp, the clips (from bagify's labels topic, or split at camera silences), and the sha256 of its
data files (the dataset hash of the report). Read with `rosbags`; nothing here needs ROS.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

IMAGE, COMPRESSED, STRING = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "std_msgs/msg/String"


class ReplayError(RuntimeError):
    """The replay cannot run (missing bag, topic, node); the message names what is missing."""


@dataclass
class ClipPlan:
    """One clip of the bag: camera messages [first, last] (indices in bag order) and its label JSON, if any."""

    clip_id: str
    first: int
    last: int
    start_ns: int
    end_ns: int
    label: dict = field(default_factory=dict)


@dataclass
class BagIndex:
    path: Path
    storage: str
    files: dict                 # file name -> sha256
    dataset_sha256: str         # sha256 over "name sha256\n" of the data files, sorted
    camera_topic: str
    camera_type: str
    log_ns: np.ndarray          # (N,) int64 log times of the camera messages
    stamp_ns: np.ndarray        # (N,) int64 header stamps
    labels_topic: str | None
    clips: list[ClipPlan]


def header_stamp_ns(raw: bytes | memoryview) -> int:
    """The header stamp of a serialized message whose first field is std_msgs/Header (CDR: 4-byte encapsulation
    header, then int32 sec, uint32 nanosec, in the byte order the encapsulation names)."""
    order = "<" if raw[1] == 1 else ">"                            # 0x0001 CDR_LE, 0x0000 CDR_BE
    sec, nanosec = struct.unpack_from(order + "iI", raw, 4)
    return sec * 1_000_000_000 + nanosec


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_bag(path: str | Path, topic: str | None = None, labels_topic: str | None = None) -> BagIndex:
    """Index a bag: the camera topic (given, or its only Image/CompressedImage topic), per-message times, the
    clips (from the labels topic, else split at silences) and the hashes of its data files."""
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError

    path = Path(path)
    if not path.exists():
        raise ReplayError(f"{path}: bag not found")
    if not (path / "metadata.yaml").is_file():
        raise ReplayError(f"{path}: not a rosbag2 bag folder (no metadata.yaml)")
    try:
        reader = Reader(path)
        reader.open()
    except ReaderError as exc:
        raise ReplayError(f"{path}: cannot open the bag: {exc}") from exc
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        cameras = sorted(t for t, m in topics.items() if m in (IMAGE, COMPRESSED))
        if topic is not None:
            if topic not in topics:
                raise ReplayError(f"{path}: topic {topic} is not in the bag (topics: {', '.join(sorted(topics))})")
            if topics[topic] not in (IMAGE, COMPRESSED):
                raise ReplayError(f"{path}: topic {topic} carries {topics[topic]}, not {IMAGE} or {COMPRESSED}")
        elif len(cameras) != 1:
            raise ReplayError(f"{path}: {'no' if not cameras else 'more than one'} camera topic ({IMAGE} or "
                              f"{COMPRESSED}) in the bag ({', '.join(sorted(topics)) or 'no topics'}); pass --topic")
        camera = topic or cameras[0]
        strings = sorted(t for t, m in topics.items() if m == STRING and t.endswith("labels"))
        if labels_topic is not None and topics.get(labels_topic) != STRING:
            raise ReplayError(f"{path}: labels topic {labels_topic} is not a {STRING} topic of the bag")
        labels_topic = labels_topic or (strings[0] if strings else None)
        camera_conns = [c for c in reader.connections if c.topic == camera]
        log_ns, stamp_ns = [], []
        for _, timestamp, raw in reader.messages(connections=camera_conns):
            log_ns.append(timestamp)
            stamp_ns.append(header_stamp_ns(raw))
        labels = []
        if labels_topic is not None:
            for _, _, raw in reader.messages(connections=[c for c in reader.connections if c.topic == labels_topic]):
                labels.append(json.loads(_string_data(raw)))
        info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        files = [Path(p).name for p in info["relative_file_paths"]]
        storage = info["storage_identifier"]
    finally:
        reader.close()
    if not log_ns:
        raise ReplayError(f"{path}: topic {camera} has no messages")
    hashes = {name: sha256_file(path / name) for name in files}
    dataset = hashlib.sha256("".join(f"{n} {h}\n" for n, h in sorted(hashes.items())).encode()).hexdigest()
    log = np.asarray(log_ns, dtype=np.int64)
    stamps = np.asarray(stamp_ns, dtype=np.int64)
    labelled = labels and all(isinstance(l, dict) and {"start_ns", "end_ns"} <= set(l) for l in labels)
    clips = _clips_from_labels(labels, stamps) if labelled else _clips_from_gaps(stamps)
    return BagIndex(path, storage, hashes, dataset, camera, topics[camera], log, stamps, labels_topic, clips)


def _string_data(raw: bytes) -> str:
    """std_msgs/String CDR: encapsulation (4), uint32 length incl. the terminating NUL, the characters."""
    order = "<" if raw[1] == 1 else ">"
    (length,) = struct.unpack_from(order + "I", raw, 4)
    return bytes(raw[8:8 + length - 1]).decode("utf-8")


def _clips_from_labels(labels: list[dict], stamps: np.ndarray) -> list[ClipPlan]:
    clips = []
    for label in labels:
        first = int(np.searchsorted(stamps, label["start_ns"], side="left"))
        last = int(np.searchsorted(stamps, label["end_ns"], side="right")) - 1
        if last >= first:
            clips.append(ClipPlan(str(label.get("clip_id")), first, last, int(stamps[first]), int(stamps[last]),
                                  label))
    return clips


def _clips_from_gaps(stamps: np.ndarray) -> list[ClipPlan]:
    """A bag without labels: a new clip wherever the camera was silent for 5 frame intervals (at least 0.5 s)."""
    gaps = np.diff(stamps)
    limit = max(5 * float(np.median(gaps)) if len(gaps) else 0.0, 0.5e9)
    cuts = [0] + [i + 1 for i in np.flatnonzero(gaps > limit).tolist()] + [len(stamps)]
    return [ClipPlan(f"segment-{k:04d}", a, b - 1, int(stamps[a]), int(stamps[b - 1]))
            for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]


def window_for(index: BagIndex) -> float:
    """window_s that holds as much of each clip as possible without reaching into the previous one."""
    spans = []
    for k, clip in enumerate(index.clips):
        frames = clip.last - clip.first + 1
        interval = (clip.end_ns - clip.start_ns) / max(frames - 1, 1) / 1e9
        previous_end = index.clips[k - 1].end_ns if k else None
        gap = (clip.start_ns - previous_end) / 1e9 - interval if previous_end is not None else 10.0
        spans.append(frames * interval + max(gap, 0.0))
    return float(np.clip(min(spans), 0.5, 10.0))


def max_gap_s(index: BagIndex) -> float:
    gaps = np.diff(index.stamp_ns) / 1e9
    return float(gaps.max()) if gaps.size else 0.0
