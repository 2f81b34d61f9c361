"""Reading the split lists of the ViMo and HumanML3D layouts.

ViMo pair lists (train.txt, test.txt, test_unseen.txt): one pair per line, "<video relpath> <motion relpath>",
e.g. "videos/chat/chat-0001.mp4 vector_263/000123.npy". The subcategory of a pair is the folder holding its video.
ViMo motion lists (motions_train.txt, motions_test.txt) and HumanML3D lists (train.txt, val.txt, test.txt): one motion
per line, either a path relative to the root ("vector_263/x.npy") or a bare id ("x"), resolved in the motion folder.
Blank lines are ignored; anything else malformed is an error naming the file and line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .validation import DataFileError


@dataclass(frozen=True)
class PairEntry:
    """One video-motion pair: both paths relative to the dataset root, as written in the list."""

    video: str
    motion: str

    @property
    def subcategory(self) -> str:
        """The folder holding the video: videos/chat/chat-0001.mp4 -> "chat" (official ViMo layout)."""
        return PurePosixPath(self.video).parent.name

    @property
    def pair_id(self) -> str:
        """The motion file's stem, which names the pair in ViMo-Synth's labels.json (a motion may serve several
        videos in the real ViMo, so this is unique per pair only where each motion is used once)."""
        return PurePosixPath(self.motion).stem


def _lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        raise DataFileError(path, "split list not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"cannot read the split list ({exc})") from exc
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def resolve_motion_ref(ref: str, motion_dir: str) -> str:
    """A motion list token -> a path relative to the root: "vector_263/x.npy" stays, a bare id "x" becomes
    "<motion_dir>/x.npy"; a relpath without suffix gets ".npy"."""
    ref = ref.replace("\\", "/")
    if "/" not in ref:
        ref = f"{motion_dir}/{ref}"
    return ref if ref.endswith(".npy") else ref + ".npy"


def read_pair_list(path: str | Path, motion_dir: str = "vector_263") -> list[PairEntry]:
    """Pairs of a ViMo split list, in file order."""
    path = Path(path)
    pairs = []
    for number, line in _lines(path):
        tokens = line.split()
        if len(tokens) != 2:
            raise DataFileError(path, f"line {number}: expected '<video relpath> <motion relpath>', got {line!r}")
        video, motion = tokens
        pairs.append(PairEntry(video=video.replace("\\", "/"), motion=resolve_motion_ref(motion, motion_dir)))
    if not pairs:
        raise DataFileError(path, "the split list is empty")
    return pairs


def read_motion_list(path: str | Path, motion_dir: str) -> list[str]:
    """Motion paths relative to the root, one per line of the list (relpaths or bare ids), in file order."""
    path = Path(path)
    refs = []
    for number, line in _lines(path):
        if len(line.split()) != 1:
            raise DataFileError(path, f"line {number}: expected one motion id or path, got {line!r}")
        refs.append(resolve_motion_ref(line, motion_dir))
    if not refs:
        raise DataFileError(path, "the split list is empty")
    return refs
