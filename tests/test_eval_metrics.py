"""Evaluation metrics against closed forms, the evaluator's shapes and the official T2M checkpoint layout, the
plausibility classifier's shapes and checkpoint round trip, and the Markdown tables."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hero_model.checkpoint import CheckpointError
from hero_model.eval import metrics
from hero_model.eval.evaluator import (EVALUATOR_INPUT_DIM, EvaluatorConfig, MotionEvaluator, load_t2m_evaluator,
                                       pad_batch)
from hero_model.eval.plausibility import ClassifierConfig, ReactionClassifier, plausible_share
from hero_model.eval.protocol import (ALL, BROAD_PREFIX, REAL, SUB_PREFIX, ProtocolConfig, method_name,
                                      model_label)
from hero_model.eval.tables import build_tables, markdown
from hero_model.eval.training_runs import markdown as training_runs_markdown
from hero_model.eval.training_runs import read_results, run_spread, summarize_runs
from hero_model.synth import taxonomy
from hero_model.motion import FEATURE_DIM, Normalizer

TINY = EvaluatorConfig(movement_hidden=16, movement_latent=12, motion_hidden=10, embedding_dim=8)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _normalizer(seed: int = 0) -> Normalizer:
    rng = np.random.default_rng(seed)
    return Normalizer(rng.normal(size=FEATURE_DIM), rng.uniform(0.5, 2.0, size=FEATURE_DIM))


# --- metrics ---------------------------------------------------------------------------------------------------

def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6))
    mu, sigma = metrics.gaussian_stats(a)
    assert metrics.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)  # identical Gaussians
    # N(0, I) vs N(m, I): |m|^2 exactly (the trace terms cancel)
    m = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.0])
    assert metrics.frechet_distance(np.zeros(6), np.eye(6), m, np.eye(6)) == pytest.approx(m @ m, rel=1e-9)
    # Diagonal covariances: sum (sqrt(s1) - sqrt(s2))^2 plus the mean term
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1.0 + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert metrics.frechet_distance(np.zeros(3), np.diag(s1), np.array([1.0, 0, 0]), np.diag(s2)) == \
        pytest.approx(expected, rel=1e-9)
    # fid on samples: a shift of the same samples by m gives |m|^2 (same covariance)
    assert metrics.fid(a, a + m) == pytest.approx(m @ m, rel=1e-6)


def test_frechet_distance_falls_back_to_the_symmetric_trace_when_sqrtm_is_far_from_real(monkeypatch):
    """sqrtm of a rank-deficient product can come back with a large imaginary part (seen on the 51-video validation
    split); the FID then comes from Tr((s1^1/2 s2 s1^1/2)^1/2), which equals Tr((s1 s2)^1/2) for PSD inputs."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(40, 64)), rng.normal(size=(40, 64)) * 1.3 + 0.2
    mu1, s1 = metrics.gaussian_stats(a)
    mu2, s2 = metrics.gaussian_stats(b)
    exact = metrics.frechet_distance(mu1, s1, mu2, s2)                       # sqrtm's root is near-real here
    assert metrics._trace_sqrt_product_psd(s1, s2) == pytest.approx(
        float(np.trace(metrics.scipy.linalg.sqrtm(s1 @ s2)).real), rel=1e-6)
    real_sqrtm = metrics.scipy.linalg.sqrtm
    monkeypatch.setattr(metrics.scipy.linalg, "sqrtm", lambda m: real_sqrtm(m) + 0.5j * np.ones_like(m))
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-6)
    with pytest.raises(ValueError, match="not PSD"):
        metrics.frechet_distance(mu1, -s1, mu2, s2)


def test_frechet_distance_survives_singular_covariances_and_rejects_bad_shapes():
    rng = np.random.default_rng(1)
    few = rng.normal(size=(5, 32))          # 5 samples in 32-d: rank-4 covariances
    other = rng.normal(size=(5, 32)) + 0.5
    value = metrics.fid(few, other)
    assert math.isfinite(value) and value > 0
    assert metrics.fid(few, few) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ValueError, match="shapes disagree"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.gaussian_stats(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.fid(np.full((4, 2), np.nan), few[:, :2])


def test_diversity_of_known_points():
    rng = np.random.default_rng(2)
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs of distinct corners: 2/3 of them are sides (1), 1/3 diagonals (sqrt 2)
    value = metrics.diversity(square, rng, pairs=30000)
    assert value == pytest.approx((2 + math.sqrt(2)) / 3, abs=0.01)
    two = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    assert metrics.diversity(two, rng, pairs=300) == pytest.approx(5.0)  # every pair is the same two points
    i, j = metrics.random_pairs(7, 1000, rng)
    assert (i != j).all() and i.min() >= 0 and j.max() <= 6 and len(set(j.tolist())) == 7
    with pytest.raises(ValueError, match="at least 2"):
        metrics.diversity(two[:1], rng)


def test_multimodality_is_the_mean_over_videos():
    rng = np.random.default_rng(3)
    # video 0: generations on a line 2 apart; video 1: all identical -> (2 + 0) / 2
    video0 = np.array([[0.0, 0.0], [2.0, 0.0]])
    video1 = np.ones((5, 2))
    assert metrics.multimodality([video0, video1], rng, pairs=10) == pytest.approx(1.0)
    stacked = np.stack([video0, video0 + 1.0])  # (V, G, E) input
    assert metrics.multimodality(stacked, rng) == pytest.approx(2.0)


def test_repeat_interval_formula():
    values = [1.0, 2.0, 3.0, 4.0]
    s = metrics.summarize_repeats(values)
    assert s.mean == pytest.approx(2.5) and s.repeats == 4
    assert s.ci == pytest.approx(1.96 * np.std(values) / math.sqrt(4))      # 1.96 * std / sqrt(n), ddof 0
    assert metrics.summarize_repeats([0.7] * 20).ci == pytest.approx(0.0, abs=1e-12)
    assert metrics.summarize_repeats([0.3]).ci is None        # one value: no interval
    with pytest.raises(ValueError, match="non-empty"):
        metrics.summarize_repeats([])


# --- the evaluator ------------------------------------------------------------------------------------------------

def test_evaluator_shapes_lengths_and_contacts():
    torch.manual_seed(0)
    model = MotionEvaluator(EvaluatorConfig(**{**TINY.__dict__, "num_classes": 3}), _normalizer(),
                            ["a", "b", "c"]).eval()
    motion = torch.randn(3, 40, FEATURE_DIM)
    lengths = torch.tensor([40, 24, 8])
    emb = model(motion, lengths)
    assert emb.shape == (3, 8) and torch.isfinite(emb).all()
    assert model.logits(emb).shape == (3, 3)
    # the 4 contact dims are not evaluated
    changed = motion.clone()
    changed[..., -4:] = 5.0
    torch.testing.assert_close(model(changed, lengths), emb)
    # frames beyond a motion's length do not change its embedding, and neither does batching with longer motions
    padded = motion.clone()
    padded[1, 24:] = 9.0
    torch.testing.assert_close(model(padded, lengths)[1], emb[1])
    torch.testing.assert_close(model(motion[1:2, :24], lengths[1:2])[0], emb[1])
    # embed() normalises raw features itself: equal to forward on normalised input
    raw = [np.random.default_rng(k).normal(size=(n, FEATURE_DIM)).astype(np.float32) for k, n in enumerate((40, 27))]
    x, lens = pad_batch(raw, model.normalizer)
    assert lens.tolist() == [40, 24]                      # cut to whole 4-frame units
    np.testing.assert_allclose(model.embed(raw), model(x, lens).double().detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="lengths"):
        model(motion, torch.tensor([40, 24, 2]))
    with pytest.raises(ValueError, match="motion must be"):
        model(motion[..., :259], lengths)
    assert EvaluatorConfig.t2m().input_dim == EVALUATOR_INPUT_DIM == 259
    with pytest.raises(ValueError, match="EvaluatorConfig.embedding_dim"):
        EvaluatorConfig(embedding_dim=0)


def test_evaluator_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = MotionEvaluator(EvaluatorConfig(**{**TINY.__dict__, "num_classes": 2}), _normalizer(), ["x", "y"])
    model.save(tmp_path / "evaluator")
    loaded = MotionEvaluator.load(tmp_path / "evaluator")
    raw = [np.random.default_rng(5).normal(size=(32, FEATURE_DIM)).astype(np.float32)] * 2
    np.testing.assert_allclose(loaded.embed(raw), model.embed(raw), rtol=1e-6)
    assert loaded.class_names == ("x", "y")
    np.testing.assert_array_equal(loaded.normalizer.std, model.normalizer.std)
    with pytest.raises(CheckpointError, match="not a reaction classifier"):
        ReactionClassifier.load(tmp_path / "evaluator")


def _t2m_checkpoint(path, hidden=16, latent=12, motion_hidden=10, emb=8):
    """A file with the official finest.tar layout: state dicts under movement_encoder / motion_encoder, plus the
    text-side entries the official file also holds."""
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.1

    movement = {"main.0.weight": r(hidden, 259, 4), "main.0.bias": r(hidden), "main.3.weight": r(latent, hidden, 4),
                "main.3.bias": r(latent), "out_net.weight": r(latent, latent), "out_net.bias": r(latent)}
    motion = {"input_emb.weight": r(motion_hidden, latent), "input_emb.bias": r(motion_hidden),
              "output_net.0.weight": r(motion_hidden, 2 * motion_hidden), "output_net.0.bias": r(motion_hidden),
              "output_net.1.weight": r(motion_hidden), "output_net.1.bias": r(motion_hidden),
              "output_net.3.weight": r(emb, motion_hidden), "output_net.3.bias": r(emb),
              "hidden": r(2, 1, motion_hidden)}
    for suffix in ("", "_reverse"):
        motion[f"gru.weight_ih_l0{suffix}"] = r(3 * motion_hidden, motion_hidden)
        motion[f"gru.weight_hh_l0{suffix}"] = r(3 * motion_hidden, motion_hidden)
        motion[f"gru.bias_ih_l0{suffix}"] = r(3 * motion_hidden)
        motion[f"gru.bias_hh_l0{suffix}"] = r(3 * motion_hidden)
    torch.save({"text_encoder": {"pos_emb.weight": r(3, 3)}, "movement_encoder": movement,
                "motion_encoder": motion, "opt_motion_encoder": {"state": {}, "param_groups": []},
                "epoch": 7, "iter": 1234}, path)
    return movement, motion


def test_official_t2m_checkpoint_loads(tmp_path):
    ckpt = tmp_path / "text_mot_match" / "model" / "finest.tar"
    ckpt.parent.mkdir(parents=True)
    movement, motion = _t2m_checkpoint(ckpt)
    meta = tmp_path / "meta"
    meta.mkdir()
    norm = _normalizer(3)
    np.save(meta / "mean.npy", norm.mean)
    np.save(meta / "std.npy", norm.std)
    model = load_t2m_evaluator(ckpt, meta)
    assert model.config == EvaluatorConfig(movement_hidden=16, movement_latent=12, motion_hidden=10, embedding_dim=8)
    state = model.state_dict()
    torch.testing.assert_close(state["movement_encoder.main.3.weight"], movement["main.3.weight"])
    torch.testing.assert_close(state["motion_encoder.hidden"], motion["hidden"])
    torch.testing.assert_close(state["motion_encoder.gru.weight_hh_l0_reverse"], motion["gru.weight_hh_l0_reverse"])
    # the embedding is T2M's computation: movement conv -> out_net -> BiGRU from `hidden` -> output_net
    raw = np.random.default_rng(4).normal(size=(16, FEATURE_DIM)).astype(np.float32)
    x = torch.from_numpy(norm.normalize(raw))[None, :, :259]
    h = torch.nn.functional.leaky_relu(torch.nn.functional.conv1d(x.transpose(1, 2), movement["main.0.weight"],
                                                                  movement["main.0.bias"], 2, 1), 0.2)
    h = torch.nn.functional.leaky_relu(torch.nn.functional.conv1d(h, movement["main.3.weight"],
                                                                  movement["main.3.bias"], 2, 1), 0.2)
    h = torch.nn.functional.linear(h.transpose(1, 2), movement["out_net.weight"], movement["out_net.bias"])
    gru = torch.nn.GRU(10, 10, batch_first=True, bidirectional=True)
    gru.load_state_dict({k[4:]: v for k, v in motion.items() if k.startswith("gru.")})
    _, last = gru(torch.nn.functional.linear(h, motion["input_emb.weight"], motion["input_emb.bias"]),
                  motion["hidden"])
    y = torch.nn.functional.linear(torch.cat([last[0], last[1]], -1), motion["output_net.0.weight"],
                                   motion["output_net.0.bias"])
    y = torch.nn.functional.layer_norm(y, (10,), motion["output_net.1.weight"], motion["output_net.1.bias"])
    y = torch.nn.functional.linear(torch.nn.functional.leaky_relu(y, 0.2), motion["output_net.3.weight"],
                                   motion["output_net.3.bias"])
    np.testing.assert_allclose(model.embed([raw])[0], y[0].detach().double().numpy(), rtol=1e-4, atol=1e-5)

    with pytest.raises(ValueError, match="Mean/Std are required"):
        load_t2m_evaluator(ckpt, None)
    bad = tmp_path / "bad.tar"
    torch.save({"vq_model": {}}, bad)
    with pytest.raises(CheckpointError, match="movement_encoder"):
        load_t2m_evaluator(bad, meta)
    with pytest.raises(CheckpointError, match="not found"):
        load_t2m_evaluator(tmp_path / "missing.tar", meta)


# --- plausibility ---------------------------------------------------------------------------------------------

def test_reaction_classifier_shapes_masking_and_round_trip(tmp_path):
    torch.manual_seed(2)
    model = ReactionClassifier(ClassifierConfig(width=8, dilations=(1, 2), num_classes=3), _normalizer(),
                               ["hug", "duck", "wave_back"]).eval()
    motion = torch.randn(2, 40, FEATURE_DIM)
    lengths = torch.tensor([40, 20])
    logits = model(motion, lengths)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    padded = motion.clone()
    padded[1, 20:] = 7.0
    torch.testing.assert_close(model(padded, lengths)[1], logits[1])  # padding never leaks in
    model.save(tmp_path / "plausibility")
    loaded = ReactionClassifier.load(tmp_path / "plausibility")
    raw = [np.random.default_rng(6).normal(size=(24, FEATURE_DIM)).astype(np.float32)]
    assert loaded.predict(raw).tolist() == model.predict(raw).tolist()
    # plausible share: hits where the predicted name is in the pair's plausible set
    assert plausible_share([0, 1, 2, 0], ["hug", "duck", "wave_back"],
                           [("hug",), ("hug", "wave_back"), ("wave_back",), ("duck",)]) == 0.5
    with pytest.raises(ValueError, match="num_classes"):
        ClassifierConfig(num_classes=1)


# --- tables ---------------------------------------------------------------------------------------------------

def _row(fid):
    return {"fid": fid, "fid_ci": 0.01, "diversity": 2.0, "diversity_ci": 0.1, "multimodality": None,
            "multimodality_ci": None, "plausibility": 0.9, "plausibility_ci": 0.02}


def test_tables_follow_the_paper_layout():
    groups = {ALL: _row(0.1), BROAD_PREFIX + "human-human": _row(0.2), SUB_PREFIX + "walk_towards_angry": _row(0.3)}
    results = {"test": {REAL: groups, "HERO": groups}, "test_unseen": {REAL: {ALL: _row(0.0)}, "HERO": {ALL: _row(1.5)}}}
    tables = build_tables(results)
    assert [r["label"] for r in tables["methods"]] == ["Real", "HERO"]
    assert [r["label"] for r in tables["categories"]] == ["Human-Human R.", "Human-Human"]
    assert [r["label"] for r in tables["emotions"]] == ["Angrily R.", "Angrily"]
    assert tables["unseen"][1]["fid"] == 1.5
    assert [(r["label"], r["method"]) for r in tables["subcategories"]] == [("walk_towards_angry", "Real"),
                                                                            ("walk_towards_angry", "HERO")]
    text = markdown(tables)
    assert "| Subcategory | Broad category | Real | HERO |" in text
    assert "| walk_towards_angry | human-human | 0.900 ± 0.020 | 0.900 ± 0.020 |" in text
    # with classified-reaction counts, the first model's most frequent implausible reaction and its share
    hero_groups = {**groups, SUB_PREFIX + "walk_towards_angry": {
        **_row(0.3), "reactions": {"step_back": 5, "wave_back": 3, "stay_still": 2}}}
    text = markdown(build_tables({"test": {REAL: groups, "HERO": hero_groups}}))
    assert "| Subcategory | Broad category | Real | HERO | HERO: most frequent implausible |" in text
    plausible = taxonomy.get("walk_towards_angry").reactions
    assert "step_back" in plausible and "wave_back" not in plausible and "stay_still" not in plausible
    assert "| walk_towards_angry | human-human | 0.900 ± 0.020 | 0.900 ± 0.020 | wave_back 0.30 |" in text
    assert "| Method | FID↓ | Diversity→ | MModality↑ | Plausibility↑ |" in text
    assert "| HERO | 0.100 ± 0.010 | 2.000 ± 0.100 | - | 0.900 ± 0.020 |" in text
    assert method_name("no_iie") == "w/o IIE" and method_name("hero", ["HERO"], "run2") == "HERO (run2)"
    # results are keyed by the name: a third HERO from another run's "model" folder must not replace the second
    assert method_name("hero", ["HERO", "HERO (model)"], "model") == "HERO (model) #2"
    assert method_name("hero", ["HERO", "HERO (x)", "HERO (x) #2"], "x") == "HERO (x) #3"
    assert method_name("hero", ["HERO"]) == "HERO #2"
    assert model_label("runs/fn03/model") == "fn03" and model_label("hero_model/assets/default") == "default"
    with pytest.raises(ValueError, match="mm_generations"):
        ProtocolConfig(mm_generations=1)


def test_protocol_config_refuses_negative_guidance_scales():
    assert ProtocolConfig(decoding={"cond_scale": 1.0, "res_cond_scale": 0.0}).decoding["cond_scale"] == 1.0
    with pytest.raises(ValueError, match="res_cond_scale.*>= 0"):
        ProtocolConfig(decoding={"res_cond_scale": -1.0})


# --- linear probes on video features -----------------------------------------------------------------------------
def test_clip_descriptor_is_the_mean_and_std_over_frames():
    from hero_model.eval.probe import clip_descriptor

    v_l = torch.tensor([[[1.0, 0.0], [3.0, 2.0]]])                        # (1 clip, 2 frames, d=2)
    torch.testing.assert_close(clip_descriptor(v_l), torch.tensor([[2.0, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\(N, T, d\)"):
        clip_descriptor(torch.zeros(2, 3))


def test_linear_probe_reads_separable_classes_and_prefers_what_validation_prefers():
    from hero_model.eval.probe import fit_probe

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 4.0

    def draw(n):
        y = np.arange(n) % 3
        return torch.tensor(centres[y] + rng.normal(size=(n, 6)), dtype=torch.float32), y

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = draw(60), draw(30), draw(60)
    probe, scores = fit_probe(train_x, train_y, val_x, val_y, 3)
    assert set(scores) == {1e-4, 1e-3, 1e-2, 1e-1, 1.0}
    assert scores[probe.l2] == max(scores.values())
    assert (probe.predict(test_x) == test_y).mean() > 0.95
    # labels unrelated to the descriptors: a probe cannot read them (chance is 1/3)
    noise_y = rng.integers(0, 3, size=60)
    shuffled, _ = fit_probe(train_x, rng.integers(0, 3, size=60), val_x, rng.integers(0, 3, size=30), 3)
    assert (shuffled.predict(test_x) == noise_y).mean() < 0.6


def test_probe_bound_counts_the_plausible_share_of_the_read_subcategory():
    from hero_model.eval.probe import probe_bound

    reactions_of = {"ball": ("catch", "duck"), "wave": ("wave_back",)}
    # read ball for a ball video: 1; read ball for a video whose plausible set holds only duck: 1/2;
    # read wave for a ball video: 0
    read = ["ball", "ball", "wave"]
    plausible = [("catch", "duck"), ("duck",), ("catch", "duck")]
    assert probe_bound(read, plausible, reactions_of) == pytest.approx((1 + 0.5 + 0) / 3)
    with pytest.raises(ValueError, match="2 readings for 3"):
        probe_bound(read[:2], plausible, reactions_of)


# --- pooling over training runs ---------------------------------------------------------------------------------
def _results_doc(models: list[tuple[str, str, str, float, float]], fingerprint: str = "abc") -> dict:
    """A minimal training/evaluate.py results document: (method, variant, model_id, fid, plausibility) per model."""
    groups = {REAL: {ALL: {"fid": 0.01, "diversity": 11.0, "plausibility": 1.0}}}
    for method, _, _, fid_value, plaus in models:
        groups[method] = {ALL: {"fid": fid_value, "fid_ci": 0.2, "diversity": 11.0, "plausibility": plaus}}
    return {"models": [{"method": m, "variant": v, "model_id": i} for m, v, i, _, _ in models],
            "groups": {"test": groups}, "protocol": {"repeats": 20, "diversity_pairs": 300, "seed": 0,
                                                      "decoding": {}},
            "evaluator": {"kind": "project", "dataset_fingerprint": fingerprint}}


def test_run_spread_uses_students_t_over_runs():
    spread = run_spread([7.0, 8.0, 9.0])                 # s = 1, n = 3: t_{0.975,2} = 4.3027
    assert spread.mean == pytest.approx(8.0) and spread.ci == pytest.approx(4.3027 / math.sqrt(3), rel=1e-4)
    assert run_spread([5.0]).ci is None
    with pytest.raises(ValueError, match="finite"):
        run_spread([1.0, float("nan")])


def test_training_runs_pool_files_count_a_run_once_and_compare_fid(tmp_path):
    first = tmp_path / "seed0.json"
    first.write_text(json.dumps(_results_doc([
        ("HERO", "hero", "run-hero-0", 7.0, 0.66), ("w/o DIE", "no_die", "run-nodie-0", 9.0, 0.70)])))
    second = tmp_path / "seeds.json"
    second.write_text(json.dumps(_results_doc([
        ("HERO", "hero", "run-hero-0-fp16", 7.5, 0.65),                # the fp16 export of seed 0: not a new run
        ("HERO (s1)", "hero", "run-hero-1", 7.2, 0.64), ("HERO (s2)", "hero", "run-hero-2", 7.4, 0.68),
        ("w/o DIE (s1)", "no_die", "run-nodie-1", 9.4, 0.69), ("w/o DIE (s2)", "no_die", "run-nodie-2", 8.6, 0.71),
        ("w/o IIE", "no_iie", "run-noiie-0", 7.3, 0.60)])))
    runs = read_results([first, second])
    assert [r.model_id for r in runs if r.variant == "hero"] == ["run-hero-0", "run-hero-1", "run-hero-2"]
    summary = summarize_runs(runs)
    rows = {r["variant"]: r for r in summary["rows"]}
    assert rows["hero"]["runs"] == 3 and rows["hero"]["fid_runs"] == [7.0, 7.2, 7.4]
    assert rows["hero"]["fid"] == pytest.approx(7.2) and rows["hero"]["fid_ci"] == pytest.approx(
        4.3027 * 0.2 / math.sqrt(3), rel=1e-4)
    assert rows["no_die"]["fid_clear_of_reference"] is True      # 7.2 + 0.50 < 9.0 - 0.99
    assert rows["no_iie"]["fid_clear_of_reference"] is None      # one run: no interval to compare
    text = training_runs_markdown(summary)
    assert "| HERO | 3 | 7.200 ± 0.497 | 7.00 / 7.20 / 7.40 |" in text and "| w/o IIE | 1 | 7.300 |" in text

    from training.evaluate import main as evaluate_main  # the CLI writes the same summary and its table
    assert evaluate_main(["runs", "--results", str(first), str(second), "--out", str(tmp_path / "pooled.json")]) == 0
    assert json.loads((tmp_path / "pooled.json").read_text())["rows"] == json.loads(json.dumps(summary["rows"]))
    assert (tmp_path / "pooled.md").read_text() == training_runs_markdown(summary, [str(first), str(second)])

    other = tmp_path / "other.json"
    other.write_text(json.dumps(_results_doc([("HERO", "hero", "x", 1.0, 1.0)], fingerprint="zzz")))
    with pytest.raises(ValueError, match=r"other\.json: evaluator\.dataset_fingerprint"):
        read_results([first, other])
    with pytest.raises(ValueError, match="not a training/evaluate.py results document"):
        (tmp_path / "bad.json").write_text("{}")
        read_results([tmp_path / "bad.json"])
