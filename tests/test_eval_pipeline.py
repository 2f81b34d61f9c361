"""The evaluation pipeline on a tiny ViMo-layout dataset written here (procedural reactions, noise videos): evaluator
and plausibility-classifier training, plausibility against labels.json, validation_fid, `training/evaluate.py`
end to end with two random small models, and the figures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hero_model.checkpoint import save_checkpoint
from hero_model.eval.evaluator import MotionEvaluator
from hero_model.eval.plausibility import ReactionClassifier
from hero_model.eval.plots import plot_training_curves, reaction_grid, read_scalars
from hero_model.eval.protocol import (ALL, EvalSplit, GenerationParts, Protocol, ProtocolConfig, VideoFeatureCache,
                                      generate_motions, validation_fid)
from hero_model.hero import HeroConfig, HeroGenerator
from hero_model.motion import FEATURE_DIM, Normalizer, compute_mean_std, joints_to_features
from hero_model.pipeline import ReactionPipeline
from hero_model.render import write_video
from hero_model.rvq import RVQConfig, RVQVAE
from hero_model.synth import taxonomy
from hero_model.synth.motions import make_motion, motion_duration_range
from hero_model.video import VideoEncoderConfig
from hero_model.video.small_cnn import build_small_cnn, save_small_cnn
from training.eval_stages import EvaluatorTrainConfig, train_evaluators
from training.evaluate import main as evaluate_main

REPO = Path(__file__).resolve().parent.parent
# subcategory -> the reactions its pairs get (a plausible subset, kept small so 4 classes dominate)
SUBCATEGORIES = {"wave": ("wave_back",), "hug_approach": ("hug",), "bird_swoop": ("duck",),
                 "walk_towards_neutral": ("stay_still",), "walk_towards_happy": ("wave_back", "hug"),
                 "walk_towards_angry": ("step_back",), "object_falling": ("step_back",)}
UNSEEN = "object_falling"
TRAIN_PER_SUB, TEST_PER_SUB = 6, 2
TINY_TRAIN = EvaluatorTrainConfig(evaluator={"movement_hidden": 24, "movement_latent": 24, "motion_hidden": 24,
                                             "embedding_dim": 16},
                                  classifier_width=16, epochs=14, batch_size=8, lr=3e-3)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write_tiny_vimo(root: Path) -> Path:
    """A ViMo-Synth-style dataset: ViMo lists, motions, 8-frame noise videos tinted per subcategory, labels.json."""
    rng = np.random.default_rng(0)
    lists: dict[str, list[str]] = {"train": [], "test": [], "test_unseen": []}
    labels, train_motions = {}, []
    for k, (sub, reactions) in enumerate(SUBCATEGORIES.items()):
        row = taxonomy.get(sub)
        for n in range(TRAIN_PER_SUB + TEST_PER_SUB):
            split = "test_unseen" if sub == UNSEEN else ("train" if n < TRAIN_PER_SUB else "test")
            if sub == UNSEEN and n >= TEST_PER_SUB:
                continue
            pair_id = f"{sub}-{n:04d}"
            reaction = reactions[n % len(reactions)]
            lo, hi = motion_duration_range(reaction)
            features = joints_to_features(make_motion(reaction, rng, duration_s=float(rng.uniform(max(lo, 2.0),
                                                                                                   min(hi, 3.0)))))
            video, motion = f"videos/{sub}/{pair_id}.mp4", f"vector_263/{pair_id}.npy"
            (root / "vector_263").mkdir(parents=True, exist_ok=True)
            np.save(root / motion, features.astype(np.float32))
            frames = rng.integers(0, 60, size=(8, 32, 32, 3)).astype(np.uint8)
            frames[..., k % 3] += np.uint8(60 + 25 * k)
            write_video(frames, root / video, fps=20)
            lists[split].append(f"{video} {motion}")
            if split == "train":
                train_motions.append(features)
            labels[pair_id] = {"video": video, "motion": motion, "broad_category": row.broad_category,
                               "subcategory": sub, "emotion": row.emotions[0], "reaction": reaction,
                               "plausible_reactions": list(row.reactions), "split": split,
                               "seen": split != "test_unseen"}
    for split, lines in lists.items():
        (root / f"{split}.txt").write_text("".join(line + "\n" for line in sorted(lines)))
    Normalizer(*compute_mean_std(train_motions)).save(root)
    (root / "labels.json").write_text(json.dumps(labels, indent=1))
    return root


def write_random_model(directory: Path, variant: str, seed: int) -> Path:
    """A random small model folder (as tests/test_pipeline.py); the video encoder is the same in every folder."""
    torch.manual_seed(0)
    video_config = VideoEncoderConfig(backbone="small-cnn", cnn_widths=(8, 16, 16, 32, 32), feature_dim=32,
                                      allow_random_init=True)
    save_small_cnn(directory / "video_encoder", build_small_cnn(video_config), video_config)
    torch.manual_seed(seed)
    rvq_config = RVQConfig(width=32, code_dim=32, num_codes=32, num_quantizers=2)
    rng = np.random.default_rng(seed)
    normalizer = Normalizer(rng.normal(size=FEATURE_DIM) * 0.1, rng.uniform(0.5, 1.5, size=FEATURE_DIM))
    save_checkpoint(directory / "rvq", RVQVAE(rvq_config).state_dict(), rvq_config,
                    normalizer_mean=normalizer.mean, normalizer_std=normalizer.std)
    generator = HeroGenerator(HeroConfig(num_codes=32, code_dim=32, num_quantizers=2, video_dim=32, latent_dim=32,
                                         ff_size=64, n_layers=1, n_heads=2, iie_heads=2, iie_mlp=64,
                                         length_hidden=(32,), variant=variant))
    generator.save(directory / "generator", model_id=f"random-{variant}")
    return directory


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    root = write_tiny_vimo(base / "data")
    torch.set_num_threads(1)
    report = train_evaluators(root, base / "evaluator", TINY_TRAIN, log=lambda message: None)
    models = [write_random_model(base / "hero", "hero", 1), write_random_model(base / "no_die", "no_die", 2)]
    return {"root": root, "evaluator": base / "evaluator", "report": report, "models": models, "base": base}


def test_evaluator_training_learns_reactions(tiny):
    report = tiny["report"]
    classes = report["class_names"]
    assert classes == ["duck", "hug", "stay_still", "step_back", "wave_back"]   # the TRAIN split's reactions
    assert report["pairs"]["train"] + report["pairs"]["val"] == TRAIN_PER_SUB * (len(SUBCATEGORIES) - 1)
    for name in ("evaluator", "plausibility"):
        history = report[name]["history"]
        assert history["loss"][-1] < 0.7 * history["loss"][0], (name, history["loss"])
        assert history["train_acc"][-1] > 0.6, (name, history["train_acc"])
        assert report[name]["best_val_acc"] > 1.0 / len(classes) + 0.15, (name, history["val_acc"])
    evaluator = MotionEvaluator.load(tiny["evaluator"] / "evaluator")
    classifier = ReactionClassifier.load(tiny["evaluator"] / "plausibility")
    assert evaluator.class_names == classifier.class_names == tuple(classes)
    assert evaluator.config.embedding_dim == 16
    # the plausibility network is not the evaluator: another architecture with its own weights
    assert not any(k.startswith("movement_encoder") for k in classifier.state_dict())
    json.loads((tiny["evaluator"] / "report.json").read_text())


def test_plausibility_is_measured_against_the_labels(tiny):
    root = tiny["root"]
    evaluator = MotionEvaluator.load(tiny["evaluator"] / "evaluator")
    classifier = ReactionClassifier.load(tiny["evaluator"] / "plausibility")
    split = EvalSplit(root, "test")
    labels = json.loads((root / "labels.json").read_text())
    assert [p.plausible for p in split.pairs] == [tuple(labels[p.pair_id]["plausible_reactions"])
                                                   for p in split.pairs]
    protocol = Protocol(split, evaluator, classifier, ProtocolConfig(repeats=2, mm_generations=0))
    real = protocol.evaluate_real()
    # by hand: the classifier's prediction on each real crop, checked against that pair's plausible reactions
    expected = []
    for r in range(2):
        predicted = classifier.predict(split.real_crops(r))
        expected.append(np.mean([classifier.class_names[k] in labels[p.pair_id]["plausible_reactions"]
                                 for k, p in zip(predicted, split.pairs)]))
    assert real[ALL]["plausibility"] == pytest.approx(np.mean(expected))
    assert real[ALL]["plausibility"] > 0.5          # real reactions are mostly recognised as plausible
    assert real[ALL]["multimodality"] is None and real[ALL]["fid"] >= 0.0
    assert set(real) >= {ALL, "broad:human-human", "broad:animal-human", "sub:walk_towards_angry"}


def test_validation_fid_is_deterministic_and_accepts_parts(tiny):
    pipeline = ReactionPipeline.from_dir(tiny["models"][0], device="cpu")
    first = validation_fid(pipeline, tiny["root"], tiny["evaluator"])
    again = validation_fid(pipeline, tiny["root"], tiny["evaluator"])
    assert np.isfinite(first) and first > 0.0 and first == again
    # the training loop's view: parts plus its own video-feature cache
    cache = VideoFeatureCache(pipeline.encoder, tiny["root"])
    split = EvalSplit(tiny["root"], "val")
    features = {p.video: cache(p.video) for p in split.pairs}
    parts = (pipeline.generator.train(), pipeline.rvq.train(), pipeline.normalizer)
    assert validation_fid(parts, tiny["root"], tiny["evaluator"], video_features=features) == pytest.approx(first)
    assert pipeline.generator.training and pipeline.rvq.training       # handed back in the mode they came in
    with pytest.raises(ValueError, match="split must be"):
        validation_fid(parts, tiny["root"], tiny["evaluator"], split="train")
    # the CLI's --val prints and writes the same number
    out = tiny["base"] / "val.json"
    assert evaluate_main(["--val", "--model-dir", str(tiny["models"][0]), "--data", str(tiny["root"]),
                          "--evaluator", str(tiny["evaluator"]), "--out", str(out), "--device", "cpu"]) == 0
    assert json.loads(out.read_text())["val_fid"][str(tiny["models"][0])] == pytest.approx(first)
    # a spread subset of a split covers several subcategories
    subset = EvalSplit(tiny["root"], "test", max_pairs=4)
    assert len(subset) == 4 and len({p.subcategory for p in subset.pairs}) >= 3


def test_batched_generation_gives_each_video_its_length(tiny):
    pipeline = ReactionPipeline.from_dir(tiny["models"][0], device="cpu")
    v_l = torch.randn(3, 16, 32)
    motions = generate_motions(GenerationParts(pipeline.generator, pipeline.rvq, pipeline.normalizer), v_l,
                               [20, 44, 8], seed=3, batch_size=2)
    assert [m.shape for m in motions] == [(20, FEATURE_DIM), (44, FEATURE_DIM), (8, FEATURE_DIM)]
    again = generate_motions(pipeline, v_l, [20, 44, 8], seed=3, batch_size=2)
    np.testing.assert_array_equal(motions[1], again[1])


def test_evaluate_cli_end_to_end(tiny, tmp_path):
    out = tmp_path / "results.json"
    hero, no_die = tiny["models"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "training/evaluate.py", "--model-dir", str(hero),
                             "--model-dir-ablation", str(no_die), "--data", str(tiny["root"]),
                             "--evaluator", str(tiny["evaluator"]), "--out", str(out), "--quick", "--device", "cpu",
                             "--feature-cache", str(tmp_path / "cache"), "--cond-scale", "2"],
                            cwd=REPO, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert [r["method"] for r in doc["rows"]] == ["Real", "HERO", "w/o DIE"]
    keys = {"method", "fid", "fid_ci", "diversity", "diversity_ci", "multimodality", "multimodality_ci",
            "plausibility"}
    for row in doc["rows"]:
        assert keys <= set(row)
        assert 0.0 <= row["plausibility"] <= 1.0 and row["diversity"] > 0
    real, hero_row, _ = doc["rows"]
    assert real["multimodality"] is None and hero_row["multimodality"] > 0
    # random untrained generators are far from the real motions; two draws of real crops are close
    assert hero_row["fid"] > 3 * real["fid"]
    assert set(doc["tables"]) == {"methods", "categories", "emotions", "unseen", "subcategories"}
    # every generated motion of a subcategory is counted once per repeat under the reaction it was classified as
    split = EvalSplit(tiny["root"], "test")
    for method in ("Real", "HERO", "w/o DIE"):
        for sub, idx in ((g, i) for g, i in split.groups().items() if g.startswith("sub:")):
            counts = doc["groups"]["test"][method][sub]["reactions"]
            assert sum(counts.values()) == 2 * len(idx), (method, sub)
            share = sum(v for k, v in counts.items() if k in split.pairs[idx[0]].plausible) / sum(counts.values())
            assert share == pytest.approx(doc["groups"]["test"][method][sub]["plausibility"])
    assert "HERO: most frequent implausible" in out.with_suffix(".md").read_text()
    assert doc["protocol"]["repeats"] == 2 and doc["videos"] == {"test": 12, "test_unseen": 2}
    assert doc["protocol"]["decoding"] == {"cond_scale": 2.0}
    assert [r["label"] for r in doc["tables"]["emotions"][:2]] == ["Angrily R.", "Angrily · HERO"]
    markdown = out.with_suffix(".md").read_text()
    for needle in ("| Method | FID↓ | Diversity→ | MModality↑ | Plausibility↑ |", "| Real |", "| w/o DIE |",
                   "Guidance scales: masked 2.0, residual 5 (set on the command line",
                   "Human-Human R.", "Expressionlessly R.", "Seen → Unseen"):
        assert needle in markdown, needle
    cached = list((tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 14                        # one feature file per video: both models share the encoder
    # `tables` rebuilds the tables and the Markdown from the per-group metrics alone (results written before a
    # table existed); it refuses a file that is not a results document
    del doc["tables"]["subcategories"]
    out.write_text(json.dumps(doc))
    out.with_suffix(".md").write_text(markdown.split("**Plausibility per test subcategory")[0])
    assert evaluate_main(["tables", "--results", str(out)]) == 0
    rebuilt = json.loads(out.read_text())
    assert [(r["label"], r["method"]) for r in rebuilt["tables"]["subcategories"]][:2] == [
        (rebuilt["tables"]["subcategories"][0]["label"], "Real"), (rebuilt["tables"]["subcategories"][0]["label"], "HERO")]
    assert rebuilt["tables"]["methods"] == doc["tables"]["methods"]
    assert "| Subcategory | Broad category | Real | HERO | w/o DIE |" in markdown
    assert out.with_suffix(".md").read_text() == markdown      # notes kept, every table back in its place
    (tmp_path / "other.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(SystemExit, match="other.json: not a training/evaluate.py results file"):
        evaluate_main(["tables", "--results", str(tmp_path / "other.json")])


def test_figures(tiny, tmp_path):
    scalars = read_scalars(tiny["evaluator"] / "tb")
    assert len(scalars["evaluator/loss"][0]) == TINY_TRAIN.epochs
    png = tmp_path / "curves.png"
    tags = plot_training_curves(tiny["evaluator"] / "tb", png, tags=["evaluator/loss", "evaluator/val_acc"])
    image = cv2.imread(str(png))
    assert tags == ["evaluator/loss", "evaluator/val_acc"] and image.shape == (240, 720, 3)
    assert (image < 200).any(axis=-1).mean() > 0.01        # something is drawn
    with pytest.raises(KeyError, match="not in"):
        plot_training_curves(tiny["evaluator"] / "tb", png, tags=["nope"])
    assert evaluate_main(["curves", "--run", str(tiny["evaluator"]), "--out", str(tmp_path / "all.png")]) == 0
    assert cv2.imread(str(tmp_path / "all.png")).shape == (2 * 240, 3 * 360, 3)   # 6 curves: 2 models x 3
    pipeline = ReactionPipeline.from_dir(tiny["models"][0], device="cpu")
    grid = tmp_path / "grid.png"
    subs = reaction_grid(pipeline, tiny["root"], grid, snapshots=3)
    assert subs == sorted(s for s in SUBCATEGORIES if s != UNSEEN)
    sheet = cv2.imread(str(grid))
    assert sheet.shape[0] > len(subs) * 120 and sheet.shape[1] > 4 * 160


def test_probe_cli_reads_the_tinted_subcategories(tiny, tmp_path):
    """`evaluate.py probe` on an encoder folder: the tiny videos are tinted per subcategory, so even a random CNN's
    features separate them; the report names the clips per split and writes the features where it is told."""
    out = tmp_path / "probe.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "training/evaluate.py", "probe", "--encoder", str(tiny["models"][0]),
                             "--data", str(tiny["root"]), "--cache-dir", str(tmp_path / "features"),
                             "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    seen = len(SUBCATEGORIES) - 1
    assert report["clips"]["test"] == TEST_PER_SUB * seen
    assert report["clips"]["train"] + report["clips"]["val"] == TRAIN_PER_SUB * seen
    assert report["subcategory"]["test_accuracy"] >= 0.5  # chance: 1/6
    assert report["subcategory"]["test_accuracy"] <= report["probe_bound"] <= 1.0
    assert list((tmp_path / "features" / report["encoder_id"]).glob("*.safetensors"))
    bad = subprocess.run([sys.executable, "training/evaluate.py", "probe", "--encoder", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode != 0 and "no video_encoder.json" in bad.stderr
