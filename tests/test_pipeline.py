"""Video file -> reaction through the whole pipeline and `python -m hero_model.generate`, on a small random model
written to disk in the project's checkpoint format (the trained embedded default comes with the training issue)."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hero_model.checkpoint import CheckpointError
from hero_model.motion import FEATURE_DIM, features_to_joints
from hero_model.pipeline import ReactionPipeline, check_model_dir
from hero_model.render import write_video
from hero_model.rvq import RVQConfig, RVQVAE
from random_model import write_random_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = write_random_model(tmp_path_factory.mktemp("model"))
    return directory


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, size=(30, 64, 80, 3), dtype=np.uint8)
    return write_video(frames, tmp_path_factory.mktemp("video") / "clip.mp4", fps=25)


def test_pipeline_generates_consistent_reactions(model_dir):
    pipeline = ReactionPipeline.from_dir(model_dir, device="cpu")
    assert pipeline.model_id == "random-test-model"
    frames = np.random.default_rng(2).integers(0, 255, size=(40, 48, 48, 3), dtype=np.uint8)
    a = pipeline.react_to_frames(frames, length=42, seed=5)
    b = pipeline.react_to_frames(frames, length=42, seed=5)
    assert a.length == 40 and a.features.shape == (40, FEATURE_DIM) and a.joints.shape == (40, 22, 3)
    assert a.codes.shape == (10, 3) and (a.codes >= 0).all()
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_allclose(a.joints, features_to_joints(a.features.astype(np.float64)), atol=1e-4)
    predicted = pipeline.react_to_frames(frames, seed=5)               # the length head picks the length
    assert 4 <= predicted.length <= 200 and predicted.length % 4 == 0


def test_generate_cli_is_seeded_and_writes_the_documented_arrays(model_dir, video_file, tmp_path):
    def run(seed, out):
        return subprocess.run([sys.executable, "-m", "hero_model.generate", str(video_file), "--out", str(out),
                               "--checkpoint", str(model_dir), "--seed", str(seed), "--length", "64",
                               "--device", "cpu", "--render"], capture_output=True, text=True, timeout=300)

    first, again, other = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    for seed, out in ((3, first), (3, again), (4, other)):
        result = run(seed, out)
        assert result.returncode == 0, result.stderr
    a, b, c = np.load(first), np.load(again), np.load(other)
    assert a["features"].shape == (64, FEATURE_DIM) and a["joints"].shape == (64, 22, 3) and int(a["length"]) == 64
    np.testing.assert_array_equal(a["features"], b["features"])
    assert not np.array_equal(a["codes"], c["codes"])
    assert (tmp_path / "a.mp4").stat().st_size > 0


def test_missing_model_files_give_one_clear_error(model_dir, video_file, tmp_path):
    incomplete = tmp_path / "incomplete"
    shutil.copytree(model_dir, incomplete)
    (incomplete / "generator.safetensors").unlink()
    with pytest.raises(CheckpointError, match="generator.safetensors"):
        check_model_dir(incomplete)
    result = subprocess.run([sys.executable, "-m", "hero_model.generate", str(video_file), "--out",
                             str(tmp_path / "x.npz"), "--checkpoint", str(incomplete)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"model file not found: {incomplete / 'generator.safetensors'}" in result.stderr


def test_mismatched_parts_are_refused(model_dir):
    pipeline = ReactionPipeline.from_dir(model_dir, device="cpu")
    with pytest.raises(ValueError, match="num_codes"):
        ReactionPipeline(pipeline.encoder, pipeline.generator, RVQVAE(RVQConfig(width=32, code_dim=32, num_codes=32,
                                                                                num_quantizers=3)),
                         pipeline.normalizer)
