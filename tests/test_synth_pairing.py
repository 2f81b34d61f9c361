"""ViMo-T2/T3 (paper supp. Table 7): more training pairs from the same videos -- the ViMo-Synth pairing
(hero_model/synth/pairing.py), its command line, and ViMoDataset(train_list=...) keeping validation and test apart."""
from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from hero_model.data.split_files import read_pair_list
from hero_model.data.validation import DataFileError
from hero_model.data.vimo import ViMoDataset
from hero_model.synth import taxonomy
from hero_model.synth.dataset import SynthConfig, make_dataset
from hero_model.synth.pairing import more_pairs, write_more_pairs
from training import make_synth

# Multi-reaction subcategories (ball_flying's scene prefers one of four) and a one-reaction one; 6 pairs each:
# numbers 0-3 and 5 train, 4 test.
SUBCATS = ("ball_flying", "walk_towards_happy", "wave")
CONFIG = SynthConfig(pairs=18, seed=5, subcategories=SUBCATS, size=64)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairing") / "data"
    make_dataset(CONFIG, root, workers=1, progress=False)
    return root


def _by_video(lines: list[str]) -> dict[str, list[str]]:
    grouped = defaultdict(list)
    for line in lines:
        video, motion = line.split()
        grouped[video].append(motion)
    return grouped


def test_every_training_video_gets_k_distinct_plausible_train_motions(dataset):
    labels = json.loads((dataset / "labels.json").read_text())
    by_motion = {lab["motion"]: lab for lab in labels.values()}
    base = (dataset / "train.txt").read_text().splitlines()
    test_motions = {p.motion for p in read_pair_list(dataset / "test.txt")}
    for k in (2, 3):
        lines = more_pairs(dataset, k, workers=1)
        assert lines == sorted(lines) and set(base) <= set(lines)  # ViMo-base's pairs are all kept
        grouped = _by_video(lines)
        assert set(grouped) == {line.split()[0] for line in base}  # the same videos, nothing from the test split
        for video, motions in grouped.items():
            assert len(motions) == k and len(set(motions)) == k, (video, motions)
            subcategory = Path(video).parent.name
            for motion in motions:
                assert motion not in test_motions and by_motion[motion]["split"] == "train"
                assert by_motion[motion]["reaction"] in taxonomy.get(subcategory).reactions
    # wave has one plausible reaction: its further motions are other waves back, from its own subcategory
    wave = _by_video(more_pairs(dataset, 2, workers=1))
    assert all(by_motion[m]["subcategory"] == "wave" for v, ms in wave.items() if "/wave/" in v for m in ms)


def test_pairing_is_deterministic_and_seeded(dataset):
    first = more_pairs(dataset, 3, seed=0, workers=1)
    assert more_pairs(dataset, 3, seed=0, workers=2) == first  # the worker count does not matter
    assert more_pairs(dataset, 3, seed=1, workers=1) != first


def test_a_dataset_of_another_generator_version_is_refused(dataset, tmp_path):
    # only meta.json and labels.json are read: a copy with one tampered reaction stands for a foreign dataset
    shutil.copy(dataset / "meta.json", tmp_path / "meta.json")
    labels = json.loads((dataset / "labels.json").read_text())
    pair_id = next(p for p, lab in sorted(labels.items()) if lab["subcategory"] == "ball_flying"
                   and lab["split"] == "train")
    reactions = taxonomy.get("ball_flying").reactions
    labels[pair_id]["reaction"] = next(r for r in reactions if r != labels[pair_id]["reaction"])
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(ValueError, match=f"pair {pair_id} has reaction .*regenerate"):
        more_pairs(tmp_path, 2, workers=1)
    with pytest.raises(ValueError, match="pairs_per_video must be in"):
        more_pairs(dataset, 1)
    with pytest.raises(FileNotFoundError, match="meta.json not found"):
        more_pairs(tmp_path / "missing", 2)


def test_command_line_writes_the_list_and_regeneration_removes_it(dataset, tmp_path):
    assert make_synth.main(["--out", str(dataset), "--pairs-per-video", "2", "--workers", "1"]) == 0
    assert (dataset / "train_t2.txt").read_text().splitlines() == more_pairs(dataset, 2, workers=1)
    assert make_synth.main(["--out", str(dataset), "--pairs-per-video", "9"]) == 2  # refused, one line
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    make_dataset(SynthConfig(pairs=3, seed=5, subcategories=SUBCATS, size=64), copy, workers=1, progress=False,
                 overwrite=True)
    assert not (copy / "train_t2.txt").exists()  # a list of the old pairs would pair the new videos wrongly


def test_vimo_dataset_trains_on_the_list_without_touching_validation(dataset):
    path = write_more_pairs(dataset, 3, workers=1)
    base_train = ViMoDataset(dataset, "train", return_video=False)
    val = ViMoDataset(dataset, "val", return_video=False)
    listed = ViMoDataset(dataset, "train", return_video=False, train_list=path.name)
    held = {p.video for p in val.pairs} | {p.motion for p in val.pairs}
    assert not held & ({p.video for p in listed.pairs} | {p.motion for p in listed.pairs})
    assert set(base_train.pairs) <= set(listed.pairs)  # the base training pairs all stay
    assert len(listed) + listed.dropped_for_val == len(read_pair_list(path)) and len(listed) > len(base_train)
    # validation is carved from train.txt, whatever the training list
    assert ViMoDataset(dataset, "val", return_video=False, train_list=path.name).pairs == val.pairs


def test_a_training_list_reaching_into_test_or_outside_train_is_refused(dataset):
    train = (dataset / "train.txt").read_text().splitlines()
    test_video, test_motion = (dataset / "test.txt").read_text().splitlines()[0].split()
    (dataset / "train_leak.txt").write_text("\n".join(train + [f"{train[0].split()[0]} {test_motion}"]) + "\n")
    with pytest.raises(DataFileError, match=r"train_leak\.txt.*motion\(s\) of test\.txt"):
        ViMoDataset(dataset, "train", return_video=False, train_list="train_leak.txt")
    (dataset / "train_outside.txt").write_text("\n".join(train + [f"{test_video} {train[0].split()[1]}"]) + "\n")
    with pytest.raises(DataFileError, match=r"train_outside\.txt.*not in train\.txt"):
        ViMoDataset(dataset, "train", return_video=False, train_list="train_outside.txt")
