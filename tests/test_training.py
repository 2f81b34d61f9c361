"""training/train.py: config tree and its validation, every stage end to end on a tiny ViMo-Synth set, resume after
a simulated kill, the frame-feature cache, the exported model folder, and the DDP code path (world size 1 and a
2-process gloo group)."""
from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hero_model.data.split_files import read_pair_list
from hero_model.data.video_io import read_video, sample_frames
from hero_model.pipeline import ReactionPipeline, load_video_encoder
from hero_model.synth.dataset import SynthConfig, make_dataset
from hero_model.video import FrozenVideoEncoder
from training.config import STAGES, TrainConfig, load_config
from training.stages import generator as generator_stage
from training.stages.common import DistContext, NullWriter, lr_at
from training.stages.export import export_default
from training.train import ensure_dataset, main, run_training

SUBCATS = ("wave", "ball_flying", "walk_towards_happy")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """12 pairs (4 per subcategory, all in train.txt: 9 train + 3 validation pairs), 64 px videos."""
    root = tmp_path_factory.mktemp("tiny_synth") / "data"
    make_dataset(SynthConfig(pairs=12, seed=3, subcategories=SUBCATS, size=64), root, workers=1, progress=False)
    return root


def tiny_overrides(root: Path, out_dir: Path, name: str) -> list[str]:
    """The small config shrunk to seconds: 32 px frames, a 2-block CNN, a 3-layer RVQ of 32 codes, 1-layer
    transformers; 3 steps per epoch (9 training pairs, batch 4)."""
    return [
        f"name={name}", f"out_dir={out_dir}", f"data.root={root}", "device=cpu", "threads=1", "evaluator=null",
        "encoder.image_size=32", "encoder.cnn_widths=[8,16]", "encoder.feature_dim=32", "encoder.batch_size=4",
        "encoder.epochs=2", "encoder.milestones=[]", "encoder.warmup_steps=2", "encoder.extra_clips=0",
        "rvq.model={width: 32, code_dim: 16, num_codes: 32, num_quantizers: 3, depth: 1}", "rvq.window=20",
        "rvq.batch_size=32", "rvq.epochs=1", "rvq.max_steps=6",
        "generator.model={latent_dim: 32, ff_size: 64, n_layers: 1, n_heads: 2, iie_heads: 4, iie_mlp: 64, "
        "length_hidden: [16]}",
        "mask.batch_size=4", "mask.epochs=2", "mask.warmup_steps=2", "mask.milestones=[1]",
        "res.batch_size=4", "res.epochs=2", "res.warmup_steps=2", "res.milestones=[]",
    ]


@pytest.fixture(scope="module")
def trained_run(tiny_data, tmp_path_factory) -> Path:
    """`python training/train.py` with every stage on the tiny set; returns the run folder."""
    out = tmp_path_factory.mktemp("runs")
    # 3 extra rendered clips, in-process: the stage's extra_clips path end to end, in seconds; a 1-layer temporal
    # context, so that the feature cache, the export and generation run through it
    assert main(tiny_overrides(tiny_data, out, "tiny") + [
        "encoder.extra_clips=3", "encoder.render_workers=1", "encoder.temporal_layers=1", "encoder.temporal_width=16",
        "encoder.temporal_heads=2", "encoder.temporal_epochs=2", "encoder.temporal_batch_size=4"]) == 0
    return out / "tiny"


# --- config ----------------------------------------------------------------------------------------------------
def test_config_defaults_overrides_and_presets():
    small = load_config("small")
    assert small.stages == list(STAGES) == ["encoder", "rvq", "mask", "res"]
    assert small.encoder.backbone == "small-cnn" and small.generator.preset == "cpu"
    cfg = load_config("small", ["generator.variant=no_iie", "generator.model.n_layers=2", "mask.lr=1e-4",
                                "stages=[res, mask]"])
    assert cfg.stages == ["mask", "res"]  # always in training order
    assert cfg.mask.lr == 1e-4 and cfg.res.lr == small.res.lr
    hero = cfg.generator.hero_config(cfg.rvq.rvq_config(), video_dim=512)
    rvq = cfg.rvq.rvq_config()
    assert (hero.variant, hero.n_layers, hero.latent_dim) == ("no_iie", 2, 192)
    # vocabulary and widths come from the trained parts, never from the preset
    assert (hero.num_codes, hero.code_dim, hero.num_quantizers) == (rvq.num_codes, rvq.code_dim, rvq.num_quantizers)
    paper = load_config("paper")
    paper_hero = paper.generator.hero_config(paper.rvq.rvq_config(), video_dim=512)
    assert (paper_hero.latent_dim, paper_hero.n_layers, paper.mask.batch_size, paper.mask.warmup_steps) == \
        (384, 6, 64, 250)


@pytest.mark.parametrize("override, message", [
    ("encoder.frames_per_clip=0", "encoder.frames_per_clip"),
    ("encoder.cnn_widths=[12,16]", "encoder.cnn_widths"),
    ("encoder.temporal_width=30", "encoder.temporal_width"),
    ("encoder.temporal_layers=-1", "encoder.temporal_layers"),
    ("mask.lr=-1", "mask.lr"),
    ("res.milestones=[5,2]", "res.milestones"),
    ("res.max_steps=0", "res.max_steps"),
    ("generator.variant=huge", "generator.variant"),
    ("generator.preset=giant", "generator.preset"),
    ("stages=[encoder,dance]", "stages"),
    ("mask.foo=1", "mask.foo"),
    ("threads=0", "threads"),
    ("data.pairs_per_video=0", "data.pairs_per_video"),
    ("data.pairs_per_video=true", "data.pairs_per_video"),
    ("mask.feature_noise=-0.5", "mask.feature_noise"),
])
def test_config_rejects_bad_values_naming_the_field(override, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        load_config("small", [override])


def test_generator_model_must_agree_with_the_trained_rvq():
    cfg = load_config("small", ["generator.model.num_codes=7"])
    with pytest.raises(ValueError, match="num_codes"):
        cfg.generator.hero_config(cfg.rvq.rvq_config(), video_dim=512)
    with pytest.raises(ValueError, match="generator.model"):
        load_config("small", ["generator.model.latent_dim=100", "generator.model.n_heads=3"]) \
            .generator.hero_config(cfg.rvq.rvq_config(), video_dim=512)


def test_lr_schedule_warms_up_then_steps_down():
    lrs = [lr_at(s, 1e-3, warmup_steps=4, milestone_steps=[6, 8], gamma=0.1) for s in range(10)]
    np.testing.assert_allclose(lrs, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])


# --- the whole pipeline ----------------------------------------------------------------------------------------
def test_every_stage_writes_its_outputs_and_the_model_folder_generates(trained_run, tiny_data):
    run = trained_run
    for path in ("config.yaml", "train.log", "timings.json", "encoder/video_encoder.safetensors",
                 "encoder/video_encoder.json", "rvq/best.safetensors", "mask/best.safetensors", "res/best.json",
                 "mask/latest_state.json", "model/generator.safetensors", "model/rvq.json",
                 "model/video_encoder.json", "model/video_encoder.safetensors", "encoder/extra_clips.safetensors"):
        assert (run / path).is_file(), path
    assert "encoder: 3 extra clips ready" in (run / "train.log").read_text()
    assert list((run / "tb").glob("events.out.tfevents.*"))
    timings = json.loads((run / "timings.json").read_text())
    assert set(STAGES) <= set(timings) and all(t["wall_s"] >= 0 and t["cpu_s"] >= 0 for t in timings.values())
    encoder_meta = json.loads((run / "encoder/video_encoder.json").read_text())
    assert 0.0 <= encoder_meta["val_subcategory_acc"] <= 1.0
    assert encoder_meta["classes"]["subcategory"] == sorted(SUBCATS)
    assert encoder_meta["config"]["temporal_layers"] == 1 and 1 <= encoder_meta["temporal_epoch"] <= 2
    assert 0.0 <= encoder_meta["temporal_val_subcategory_acc"] <= 1.0
    assert "encoder: temporal context: best epoch" in (run / "train.log").read_text()
    for stage, key in (("mask", "val_masked_loss"), ("res", "val_residual_loss")):
        state = json.loads((run / stage / "latest_state.json").read_text())
        assert state["phase"] == "done" and state["epoch"] == 2 and state["step"] == 6  # 2 epochs x 3 steps
        assert np.isfinite(state["best"][key])
    # The best RVQ is copied unchanged (its normalisation statistics travel with it).
    assert load_file(str(run / "model/rvq.safetensors")).keys() == load_file(str(run / "rvq/best.safetensors")).keys()

    pipeline = ReactionPipeline.from_dir(run / "model", device="cpu")
    assert pipeline.encoder.temporal_context
    generator_meta = json.loads((run / "model/generator.json").read_text())
    assert pipeline.model_id == generator_meta["model_id"] and pipeline.model_id.startswith("hero-ros-tiny-hero-")
    frames, _ = read_video(tiny_data / "videos/wave/wave-0000.mp4")
    first = pipeline.react_to_frames(frames, seed=3)
    again = pipeline.react_to_frames(frames, seed=3)
    assert first.length % 4 == 0 and 4 <= first.length <= 200
    assert first.joints.shape == (first.length, 22, 3) and np.isfinite(first.joints).all()
    np.testing.assert_array_equal(first.joints, again.joints)


def test_frozen_encoder_features_are_standardised(trained_run, tiny_data):
    """The standardisation folded into the encoder's last layer: zero-mean, unit mean variance on training frames."""
    encoder = load_video_encoder(trained_run / "model", torch.device("cpu"))
    videos = sorted((tiny_data / "videos").rglob("*.mp4"))
    frames = np.concatenate([sample_frames(v, 16, None)[0] for v in videos])
    features = encoder.encode_frames(frames)                                     # (n*16, 32)
    assert features.shape == (16 * len(videos), 32)
    # 12 clips here vs the 9 training clips the statistics came from: loose bounds, far from an unfolded CNN's
    assert features.mean(dim=0).abs().mean() < 0.35
    assert 0.6 < features.var(dim=0).mean() < 1.6


def test_feature_cache_encodes_each_clip_once(trained_run, tiny_data, tmp_path, monkeypatch):
    """Two epochs of mask and res on a fresh cache: every clip goes through the encoder exactly once; a second run
    (and the base run's own cache) never calls it."""
    frames_encoded = []
    original = FrozenVideoEncoder.encode_frames

    def counting(self, frames):
        frames_encoded.append(len(frames))
        return original(self, frames)

    monkeypatch.setattr(FrozenVideoEncoder, "encode_frames", counting)
    num_videos = len((tiny_data / "train.txt").read_text().splitlines())
    out = tmp_path / "runs"
    overrides = tiny_overrides(tiny_data, out, "cache") + [f"base_run={trained_run}", "--stages", "mask,res",
                                                          f"data.feature_cache_dir={tmp_path / 'cache'}"]
    assert main(overrides) == 0
    assert sum(frames_encoded) == 16 * num_videos                                 # once per clip, not per epoch
    cache_files = list((tmp_path / "cache").glob("small-cnn-*/train.safetensors"))
    assert len(cache_files) == 1
    # the cache holds v_l as the model sees it: through the encoder's temporal context
    cached = load_file(str(cache_files[0]))
    video = sorted(cached)[0]
    encoder = load_video_encoder(trained_run / "model", torch.device("cpu"))
    expected = encoder(sample_frames(tiny_data / video, 16, None)[0][None]).v_l[0]
    torch.testing.assert_close(cached[video], expected, rtol=1e-5, atol=1e-5)
    frames_encoded.clear()
    assert main(tiny_overrides(tiny_data, out, "cache_again") + [
        f"base_run={trained_run}", "--stages", "mask", f"data.feature_cache_dir={tmp_path / 'cache'}"]) == 0
    assert main(tiny_overrides(tiny_data, out, "base_cache") + [f"base_run={trained_run}", "--stages", "res"]) == 0
    assert frames_encoded == []


class _KillAfter(NullWriter):
    """A TensorBoard writer that raises once training passes `step`: a kill in the middle of an epoch."""

    def __init__(self, step: int):
        self.kill_step = step

    def add_scalar(self, tag, value, step=None, *args, **kwargs):
        if step is not None and step > self.kill_step:
            raise KeyboardInterrupt("simulated kill")


def _mask_cfg(tiny_data, out, name, trained_run, *extra) -> TrainConfig:
    return load_config("small", tiny_overrides(tiny_data, out, name) + [
        f"base_run={trained_run}", "stages=[mask]", "mask.epochs=3", *extra])


def test_resume_after_a_kill_continues_from_the_last_epoch(trained_run, tiny_data, tmp_path):
    dist = DistContext()
    plain = _mask_cfg(tiny_data, tmp_path, "uninterrupted", trained_run)
    generator_stage.run(plain, "mask", dist, NullWriter())

    killed = _mask_cfg(tiny_data, tmp_path, "killed", trained_run)
    with pytest.raises(KeyboardInterrupt):
        generator_stage.run(killed, "mask", dist, _KillAfter(step=4))             # dies in epoch 2 (steps 4-6)
    state = json.loads((killed.run_dir / "mask/latest_state.json").read_text())
    assert (state["phase"], state["epoch"], state["step"]) == ("train", 1, 3)     # epoch 1 survived
    generator_stage.run(killed, "mask", dist, NullWriter())
    state = json.loads((killed.run_dir / "mask/latest_state.json").read_text())
    assert (state["phase"], state["epoch"], state["step"]) == ("done", 3, 9)
    # Epoch seeds, sampler epochs and crop epochs make the resumed run the uninterrupted one, bit for bit.
    resumed, reference = (load_file(str(c.run_dir / "mask/latest.safetensors")) for c in (killed, plain))
    assert resumed.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=0, atol=0, msg=key)

    # Raising the epoch budget of a finished stage continues it rather than starting over.
    longer = _mask_cfg(tiny_data, tmp_path, "killed", trained_run, "mask.epochs=4")
    generator_stage.run(longer, "mask", dist, NullWriter())
    assert json.loads((killed.run_dir / "mask/latest_state.json").read_text())["step"] == 12


def test_feature_noise_changes_the_training_steps_and_is_seeded(trained_run, tiny_data, tmp_path):
    dist = DistContext()
    runs = {}
    for name, noise in (("clean", "0"), ("noisy", "0.5"), ("noisy_again", "0.5")):
        cfg = _mask_cfg(tiny_data, tmp_path, name, trained_run, "mask.epochs=1", f"mask.feature_noise={noise}")
        generator_stage.run(cfg, "mask", dist, NullWriter())
        runs[name] = load_file(str(cfg.run_dir / "mask/latest.safetensors"))
    assert any(not torch.equal(runs["clean"][k], runs["noisy"][k]) for k in runs["clean"])  # it reached the steps
    for k in runs["noisy"]:                                                          # and it comes from the seed
        torch.testing.assert_close(runs["noisy"][k], runs["noisy_again"][k], rtol=0, atol=0, msg=k)

    rvq, normalizer, _, encoder_dir, video_dim = generator_stage.frozen_parts(cfg, torch.device("cpu"))
    cache = generator_stage.build_feature_cache(cfg, encoder_dir, progress=False)
    hero = cfg.generator.hero_config(rvq.config, video_dim)
    train_set, _ = generator_stage.pair_datasets(cfg, hero, normalizer, cache)
    videos = sorted({p.video for p in train_set.pairs})
    expected = torch.cat([cache(v) for v in videos]).std(dim=0)                    # (d,) over clips x frames
    torch.testing.assert_close(generator_stage.feature_scale(train_set, cache), expected)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_more_pairs_per_video_are_derived_and_trained_on(trained_run, tiny_data, tmp_path, caplog):
    cfg = _mask_cfg(tiny_data, tmp_path, "t2", trained_run, "data.pairs_per_video=2", "mask.epochs=1")
    assert cfg.data.train_list == "train_t2.txt"
    ensure_dataset(cfg)  # what train.py does first: ViMo-Synth derives the ViMo-T2 list when it is missing
    listed = read_pair_list(tiny_data / "train_t2.txt")
    assert len(listed) == 2 * len(read_pair_list(tiny_data / "train.txt"))
    with caplog.at_level(logging.INFO, logger="training.generator"):
        generator_stage.run(cfg, "mask", DistContext(), NullWriter())
    # 12 videos x 2 motions, less what shares a video or motion with the 3 validation pairs
    text = caplog.text
    dropped = int(text.split(" pairs left out of training")[0].rsplit(" ", 1)[1])
    assert f"{len(listed) - dropped} training / 3 validation pairs" in text and dropped >= 6

    vimo = tmp_path / "vimo"  # a ViMo-layout folder without meta.json: the list is the user's to supply
    vimo.mkdir()
    (vimo / "train.txt").write_text((tiny_data / "train.txt").read_text())
    with pytest.raises(SystemExit, match="needs .*train_t3.txt"):
        ensure_dataset(load_config("small", [f"data.root={vimo}", "data.pairs_per_video=3"]))


def test_torchrun_world_size_1_takes_the_ddp_path_and_matches_the_plain_run(trained_run, tiny_data, tmp_path,
                                                                            monkeypatch):
    from torch.nn.parallel import DistributedDataParallel

    wrapped = []

    class CountingDDP(DistributedDataParallel):
        def __init__(self, module, *args, **kwargs):
            wrapped.append(type(module).__name__)
            super().__init__(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", CountingDDP)
    plain = _mask_cfg(tiny_data, tmp_path, "plain", trained_run, "mask.epochs=2")
    run_training(plain)
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)  # what `torchrun --nproc_per_node=1` sets
    ddp = _mask_cfg(tiny_data, tmp_path, "ddp", trained_run, "mask.epochs=2")
    run_training(ddp)
    assert wrapped == ["PartObjective"] and not torch.distributed.is_initialized()
    a, b = (load_file(str(c.run_dir / "mask/best.safetensors")) for c in (plain, ddp))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    assert (ddp.run_dir / "model/generator.json").is_file()  # base run's res + this mask -> exported


def _ddp_worker(rank: int, world_size: int, port: int, cfg: TrainConfig) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    run_training(cfg)


def test_two_process_gloo_run_trains_and_checkpoints_once(trained_run, tiny_data, tmp_path):
    cfg = _mask_cfg(tiny_data, tmp_path, "gloo2", trained_run, "mask.epochs=2")
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), cfg), nprocs=2, join=True)
    state = json.loads((cfg.run_dir / "mask/latest_state.json").read_text())
    # 9 pairs over 2 ranks -> 5 per rank -> 2 steps of batch 4 per epoch
    assert (state["phase"], state["epoch"], state["step"]) == ("done", 2, 4)
    assert (cfg.run_dir / "mask/best.safetensors").is_file()


def test_export_default_copies_a_loadable_model(trained_run, tmp_path):
    target = tmp_path / "default"
    overrides = [f"name={trained_run.name}", f"out_dir={trained_run.parent}", "--export-default",
                 "--export-to", str(target), "evaluator=null"]
    assert main(overrides) == 0
    model_files = ["generator.json", "generator.safetensors", "rvq.json", "rvq.safetensors", "video_encoder.json",
                   "video_encoder.safetensors"]
    assert sorted(p.name for p in target.iterdir()) == sorted(model_files)
    # With an evaluator folder, its plausibility classifier travels with the default (hero_ros.replay scores with it).
    from hero_model.eval.plausibility import ClassifierConfig, ReactionClassifier
    from hero_model.motion.normalization import Normalizer

    evaluator_dir = tmp_path / "evaluator"
    evaluator_dir.mkdir()
    ReactionClassifier(ClassifierConfig(width=8, dilations=(1,), num_classes=2),
                       Normalizer(np.zeros(263), np.ones(263)), ("a", "b")).save(
        evaluator_dir / "plausibility")
    with_classifier = tmp_path / "default_with_classifier"
    assert main(overrides[:-3] + ["--export-to", str(with_classifier), f"evaluator={evaluator_dir}"]) == 0
    assert sorted(p.name for p in with_classifier.iterdir()) == sorted(
        model_files + ["plausibility.json", "plausibility.safetensors"])
    assert ReactionClassifier.load(with_classifier / "plausibility").class_names == ("a", "b")
    assert ReactionPipeline.from_dir(target, device="cpu").model_id.startswith("hero-ros-tiny-")
    with pytest.raises(SystemExit, match="no exported model"):
        main(["name=missing", f"out_dir={tmp_path}", "--export-default", "--export-to", str(target)])
    assert export_default(trained_run / "model", target) == target


def test_res_stage_logs_the_validation_fid_of_the_whole_generator(trained_run, tiny_data, tmp_path):
    """With an evaluator folder, stage res measures the validation FID every res.fid_every epochs (and at the last)
    and stores it with the checkpoint and in TensorBoard; without one (evaluator=null) nothing is measured."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from hero_model.eval.evaluator import EvaluatorConfig, MotionEvaluator
    from hero_model.motion.normalization import Normalizer

    evaluator_dir = tmp_path / "evaluator"
    evaluator_dir.mkdir()
    torch.manual_seed(0)
    MotionEvaluator(EvaluatorConfig.small(embedding_dim=8), Normalizer.from_dir(tiny_data)).save(
        evaluator_dir / "evaluator")
    out = tmp_path / "runs"
    assert main(tiny_overrides(tiny_data, out, "fid") + [f"base_run={trained_run}", "--stages", "res",
                                                        f"evaluator={evaluator_dir}", "res.fid_every=1"]) == 0
    state = json.loads((out / "fid/res/latest_state.json").read_text())
    assert np.isfinite(state["best"]["val_fid"]) and state["best"]["val_fid"] >= 0.0
    events = EventAccumulator(str(out / "fid/tb")).Reload()
    assert [e.step for e in events.Scalars("res/val_fid")] == [3, 6]          # epochs 1 and 2, 3 steps each
    no_fid = json.loads((trained_run / "res/latest_state.json").read_text())   # trained with evaluator=null
    assert "val_fid" not in no_fid["best"]
    # The export picked each transformer's checkpoint (best token loss or last epoch) on validation FID.
    meta = json.loads((out / "fid/model/generator.json").read_text())
    scores = meta["selection"]["val_fid"]
    assert sorted(scores) == ["mask=best,res=best", "mask=best,res=latest", "mask=latest,res=best",
                              "mask=latest,res=latest"]
    chosen = f"mask={meta['checkpoints']['mask']},res={meta['checkpoints']['res']}"
    assert scores[chosen] == min(scores.values())
    assert json.loads((trained_run / "model/generator.json").read_text())["checkpoints"] == {"mask": "best",
                                                                                           "res": "best"}


def test_res_fid_settings_are_validated():
    for override, field_name in (("res.fid_every=-1", "res.fid_every"), ("res.fid_max_pairs=1", "res.fid_max_pairs"),
                                 ("select=latest", "select")):
        with pytest.raises(ValueError, match=field_name.replace(".", r"\.")):
            load_config("small", [override])


def test_extra_encoder_clips_render_in_workers_after_torch_ran_threaded(tiny_data):
    """encoder.extra_clips renders in a process pool after the parent has run multi-threaded torch ops (the clips'
    resize); forked workers deadlocked there. The pool must finish, and give the bytes one process gives."""
    import concurrent.futures

    from training.stages.encoder import render_extra_clips

    torch.set_num_threads(2)
    try:
        torch.nn.functional.interpolate(torch.rand(8, 3, 256, 256), size=(97, 97), mode="bilinear", antialias=True)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pooled = pool.submit(render_extra_clips, tiny_data, 4, list(SUBCATS), 32, 16, 2, False).result(
                timeout=300)
    finally:
        torch.set_num_threads(1)
    single = render_extra_clips(tiny_data, 4, list(SUBCATS), 32, 16, 1, False)
    clips, subcategories, emotions = pooled
    assert clips.shape == (4, 16, 32, 32, 3) and clips.dtype == torch.uint8
    assert subcategories == [SUBCATS[i % 3] for i in range(4)]
    assert torch.equal(clips, single[0]) and emotions == single[2]


def test_extra_encoder_clips_are_kept_for_a_resumed_run(tiny_data, tmp_path, monkeypatch):
    from training.stages import encoder as encoder_stage

    path = tmp_path / "encoder" / encoder_stage.EXTRA_CLIPS_FILE
    first = encoder_stage.cached_extra_clips(path, tiny_data, 3, list(SUBCATS), 32, 16, 1, False)
    assert path.is_file()
    calls = []
    real = encoder_stage.render_extra_clips
    monkeypatch.setattr(encoder_stage, "render_extra_clips", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = encoder_stage.cached_extra_clips(path, tiny_data, 3, list(SUBCATS), 32, 16, 1, False)
    assert calls == [] and torch.equal(again[0], first[0]) and again[1:] == first[1:]
    other = encoder_stage.cached_extra_clips(path, tiny_data, 2, list(SUBCATS), 32, 16, 1, False)  # new settings
    assert len(calls) == 1 and other[0].shape[0] == 2 and torch.equal(other[0], first[0][:2])


def test_fold_standardisation_returns_the_features_the_folded_backbone_gives():
    """The temporal phase trains on fold_standardisation's features instead of encoding the clips again: they must
    be what the folded CNN computes (f' = (f - mu) / sigma), with zero mean and unit mean variance."""
    from hero_model.video.config import VideoEncoderConfig
    from hero_model.video.small_cnn import build_small_cnn
    from training.stages.encoder import fold_standardisation, frame_features

    torch.manual_seed(0)
    video_config = VideoEncoderConfig(backbone="small-cnn", cnn_widths=(8, 16, 16, 32, 32), feature_dim=24,
                                      image_size=32, allow_random_init=True)
    backbone = build_small_cnn(video_config)
    clips = torch.randint(0, 256, (5, 16, 32, 32, 3), dtype=torch.uint8)
    stats, folded = fold_standardisation(backbone, clips, video_config, torch.device("cpu"))
    again = frame_features(backbone, clips, video_config, torch.device("cpu"))   # (5, 16, 24) through the new W, b
    assert folded.shape == again.shape == (5, 16, 24)
    torch.testing.assert_close(folded, again, atol=1e-4, rtol=1e-4)
    flat = again.flatten(0, 1)
    assert flat.mean(0).abs().max() < 1e-3 and abs(float(flat.var(0).mean()) - 1.0) < 1e-3
    assert stats["feature_sigma"] > 0
