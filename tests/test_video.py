"""Frozen video encoder: shapes, preprocessing, sampling, streaming, TC-CLIP mapping, weight files, small CNN."""
from __future__ import annotations

import dataclasses
import json
import re
import warnings

import numpy as np
import pytest
import torch

from hero_model.checkpoint import CheckpointError
from hero_model.video import (IMAGENET_MEAN_255, IMAGENET_STD_255, FrozenVideoEncoder, StreamingVideoEncoder,
                              VideoEncoderConfig, load_small_cnn, open_clip_to_tcclip, preprocess_frames,
                              sample_clip, save_small_cnn, save_tcclip_checkpoint, segment_indices,
                              tcclip_to_open_clip)
from hero_model.video.clip_vit import build_clip_visual
from hero_model.video.temporal import TemporalContext

open_clip = pytest.importorskip("open_clip")

# 12 blocks like ViT-B/16 (so the same 152 open_clip / 211 TC-CLIP keys), but 64 wide at 64 px: ~0.7 M params.
TINY_VIT = dict(width=64, layers=12, patch_size=16, image_size=64)
RNG = np.random.default_rng(0)


def random_frames(*shape):
    return RNG.integers(0, 256, size=(*shape, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def cnn_encoder():
    torch.manual_seed(0)
    return FrozenVideoEncoder(VideoEncoderConfig(backbone="small-cnn", allow_random_init=True))


@pytest.fixture(scope="module")
def tiny_vit_encoder():
    torch.manual_seed(0)
    return FrozenVideoEncoder(VideoEncoderConfig(backbone="clip-vit-b16", clip_vision_overrides=TINY_VIT,
                                                 allow_random_init=True))


@pytest.fixture(scope="module")
def temporal_encoder():
    """The small CNN with a 1-layer TemporalContext whose output layer is randomised (a fresh one is the identity)."""
    torch.manual_seed(0)
    encoder = FrozenVideoEncoder(VideoEncoderConfig(backbone="small-cnn", allow_random_init=True, temporal_layers=1,
                                                    temporal_width=32, temporal_heads=2))
    with torch.no_grad():
        torch.nn.init.normal_(encoder.backbone.temporal.up.weight, std=0.2)
    return encoder


@pytest.fixture(params=["small-cnn", "tiny-vit", "small-cnn-temporal"])
def encoder(request, cnn_encoder, tiny_vit_encoder, temporal_encoder):
    return {"small-cnn": cnn_encoder, "tiny-vit": tiny_vit_encoder, "small-cnn-temporal": temporal_encoder}[
        request.param]


# ---------------------------------------------------------------------------------------------------- config


def test_config_defaults_and_validation():
    assert VideoEncoderConfig(backbone="small-cnn", allow_random_init=True).image_size == 112
    assert VideoEncoderConfig(backbone="clip-vit-b16").image_size == 224
    assert VideoEncoderConfig(backbone="clip-vit-b16", clip_vision_overrides=TINY_VIT).image_size == 64
    bad = [dict(backbone="resnet"), dict(mean=(1.0, 2.0)), dict(std=(1.0, 0.0, 1.0)), dict(num_segments=0),
           dict(cnn_widths=(30, 64)), dict(image_size=4), dict(max_frames_per_call=0), dict(temporal_layers=-1),
           dict(temporal_width=30, temporal_heads=4)]
    for kwargs in bad:
        field = next(iter(kwargs))
        with pytest.raises(ValueError, match=field):
            VideoEncoderConfig(**{"allow_random_init": True, **kwargs})
    with pytest.raises(ValueError, match="image_size"):
        VideoEncoderConfig(backbone="clip-vit-b16", image_size=224, clip_vision_overrides=TINY_VIT)
    with pytest.raises(ValueError, match="zero_shot_k400_tc_clip"):
        VideoEncoderConfig(backbone="tcclip-vit-b16")
    with pytest.raises(ValueError, match="weights"):
        VideoEncoderConfig(backbone="small-cnn")
    with pytest.raises(ValueError, match="colour"):
        VideoEncoderConfig.from_dict({"backbone": "small-cnn", "colour": 1})
    cfg = VideoEncoderConfig(backbone="small-cnn", allow_random_init=True)
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
    assert VideoEncoderConfig.from_dict(as_json) == cfg


# ---------------------------------------------------------------------------------------------------- encoder


def test_shapes_global_is_mean_and_frozen(encoder):
    clips = random_frames(2, 16, 45, 80)  # any frame size; resized without keeping aspect
    out = encoder(clips)
    assert out.v_l.shape == (2, 16, 512) and out.v_g.shape == (2, 512)
    assert out.v_l.dtype == torch.float32
    torch.testing.assert_close(out.v_g, out.v_l.mean(dim=1), rtol=0, atol=1e-6)  # v_g = AvgPool(v_l)
    # numpy, torch and a list of frames give the same features
    torch.testing.assert_close(encoder(torch.from_numpy(clips)).v_l, out.v_l, rtol=0, atol=1e-6)
    torch.testing.assert_close(encoder(list(clips[1])).v_l[0], out.v_l[1], rtol=0, atol=1e-5)
    # frozen: eval even after a parent's .train(), no trainable parameters
    encoder.train()
    assert not encoder.training and not encoder.backbone.training
    assert not any(p.requires_grad for p in encoder.parameters())
    # features feed a trainable layer (they must not be inference tensors)
    head = torch.nn.Linear(512, 1)
    head(out.v_l).sum().backward()
    assert head.weight.grad is not None and out.v_l.grad_fn is None


def test_rejects_non_uint8_and_wrong_shapes(cnn_encoder):
    with pytest.raises(TypeError, match="uint8"):
        cnn_encoder(np.zeros((1, 16, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(B,T,H,W,3\)"):
        cnn_encoder(random_frames(16, 8, 8))
    with pytest.raises(ValueError, match="RGB"):
        cnn_encoder(np.zeros((1, 16, 8, 8, 4), dtype=np.uint8))


def test_preprocess_resizes_without_keeping_aspect_and_normalises():
    mean, std = np.array(IMAGENET_MEAN_255), np.array(IMAGENET_STD_255)
    rgb = np.array([10, 200, 90], dtype=np.uint8)
    frame = np.broadcast_to(rgb, (37, 91, 3)).copy()
    pixels = preprocess_frames(frame[None], 64, IMAGENET_MEAN_255, IMAGENET_STD_255)
    assert pixels.shape == (1, 3, 64, 64)
    expected = (rgb - mean) / std  # (x - mean) / std on 0-255, channel order R, G, B
    np.testing.assert_allclose(pixels[0].amax(dim=(1, 2)).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(pixels[0].amin(dim=(1, 2)).numpy(), expected, atol=1e-5)
    # 20x80 frame, left quarter white: stretched to 16x16 the white part becomes the left quarter (columns 0-3).
    # A centre crop would drop it, letterboxing would shrink it; the antialias filter (5 px wide) blends cols 3-4.
    frame = np.zeros((20, 80, 3), dtype=np.uint8)
    frame[:, :20] = 255
    pixels = preprocess_frames([frame], 16, IMAGENET_MEAN_255, IMAGENET_STD_255)[0, 0]  # red channel (16,16)
    white, black = (255 - mean[0]) / std[0], (0 - mean[0]) / std[0]
    np.testing.assert_allclose(pixels[:, :3].numpy(), white, atol=1e-4)
    np.testing.assert_allclose(pixels[:, 5:].numpy(), black, atol=1e-4)
    assert black < pixels[0, 3] < white and black < pixels[0, 4] < pixels[0, 3]
    # frames of different sizes in one list: each is resized on its own
    a, b = random_frames(30, 40), random_frames(50, 20)
    both = preprocess_frames([a, b, a], 32, IMAGENET_MEAN_255, IMAGENET_STD_255)
    torch.testing.assert_close(both[1], preprocess_frames(b[None], 32, IMAGENET_MEAN_255, IMAGENET_STD_255)[0])
    torch.testing.assert_close(both[0], both[2])


def test_sample_clip_takes_segment_centres(cnn_encoder):
    n = 50
    video = np.repeat(np.arange(n, dtype=np.uint8), 8 * 8 * 3).reshape(n, 8, 8, 3)  # frame i is filled with i
    expected = [1, 4, 7, 10, 14, 17, 20, 23, 26, 29, 32, 35, 39, 42, 45, 48]  # floor((k + 0.5) * 50 / 16)
    np.testing.assert_array_equal(sample_clip(n), expected)
    np.testing.assert_array_equal(segment_indices(n), expected)
    np.testing.assert_array_equal(sample_clip(video)[:, 0, 0, 0], expected)
    assert [f[0, 0, 0] for f in sample_clip(list(video))] == expected
    whole = cnn_encoder.encode_video(video)
    direct = cnn_encoder(video[expected][None])
    assert whole.v_l.shape == (1, 16, 512)
    torch.testing.assert_close(whole.v_l, direct.v_l, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------------- streaming


def test_streaming_matches_batch(encoder):
    fps, t0, n = 20.0, 1234.5, 50
    video = random_frames(n, 36, 48)
    stream = StreamingVideoEncoder(encoder, capacity=64)
    for i, frame in enumerate(video):
        assert stream.push(frame, t0 + i / fps).shape == (512,)
    batch = encoder.encode_video(video)  # 16 frames in one backbone call
    for streamed in (stream.clip_for_window(t0, t0 + n / fps), stream.latest_clip(),
                     stream.features_at(t0 + segment_indices(n) / fps)):
        assert streamed.v_l.shape == (1, 16, 512)
        assert (streamed.v_l - batch.v_l).abs().max() < 1e-5
        assert (streamed.v_g - batch.v_g).abs().max() < 1e-5
    # the last 32 frames as a window, and as a count
    last = encoder.encode_video(video[-32:])
    assert (stream.clip_for_window(t0 + 18 / fps, t0 + n / fps).v_l - last.v_l).abs().max() < 1e-5
    assert (stream.latest_clip(32).v_l - last.v_l).abs().max() < 1e-5


def test_streaming_buffer_is_bounded_and_checks_input(cnn_encoder):
    stream = StreamingVideoEncoder(cnn_encoder, capacity=10)
    frames = random_frames(15, 16, 16)
    stream.push_many(frames[:5], [0.0, 0.1, 0.2, 0.3, 0.4])
    for i in range(5, 15):
        stream.push(frames[i], i / 10)
    assert len(stream) == 10
    np.testing.assert_allclose(stream.timestamps, np.arange(5, 15) / 10)
    with pytest.raises(ValueError, match="dropped"):
        stream.clip_for_window(0.0, 1.5)
    with pytest.raises(ValueError, match="dropped"):
        stream.features_at([0.2])
    with pytest.raises(ValueError, match="later than"):
        stream.push(frames[0], 1.4)
    with pytest.raises(ValueError, match="no buffered frame"):
        stream.clip_for_window(2.0, 3.0)
    with pytest.raises(ValueError, match="per-frame"):
        StreamingVideoEncoder(torch.nn.Identity())


# ---------------------------------------------------------------------------------------------------- TC-CLIP


def test_tcclip_qkv_concatenation_order():
    torch.manual_seed(1)
    visual = build_clip_visual(vision_overrides=TINY_VIT).state_dict()
    w = TINY_VIT["width"]
    tc = open_clip_to_tcclip(visual)  # no module. prefix, zero bias tables
    for i in (0, 11):
        attn = f"transformer.resblocks.{i}.attn"
        in_w, in_b = visual[f"{attn}.in_proj_weight"], visual[f"{attn}.in_proj_bias"]
        assert in_w.shape == (3 * w, w)
        for j, part in enumerate(("q_proj", "k_proj", "v_proj")):  # rows [q; k; v]
            torch.testing.assert_close(tc[f"image_encoder.{attn}.{part}.weight"], in_w[j * w:(j + 1) * w],
                                       rtol=0, atol=0)
            torch.testing.assert_close(tc[f"image_encoder.{attn}.{part}.bias"], in_b[j * w:(j + 1) * w],
                                       rtol=0, atol=0)
    # and back: hand-made distinct q, k, v land in rows 0:w, w:2w, 2w:3w
    q, k, v = (torch.full((w, w), float(c)) for c in (1, 2, 3))
    attn = "image_encoder.transformer.resblocks.5.attn"
    tc.update({f"{attn}.q_proj.weight": q, f"{attn}.k_proj.weight": k, f"{attn}.v_proj.weight": v})
    back, summary = tcclip_to_open_clip(tc)
    merged = back["transformer.resblocks.5.attn.in_proj_weight"]
    assert merged[:w].eq(1).all() and merged[w:2 * w].eq(2).all() and merged[2 * w:].eq(3).all()
    del tc[f"{attn}.k_proj.bias"]
    with pytest.raises(ValueError, match="k_proj"):
        tcclip_to_open_clip(tc)


def test_tcclip_checkpoint_vit_b16_matches_open_clip(tmp_path):
    """Full-size ViT-B/16: TC-CLIP-layout file with random weights -> our encoder == open_clip with those weights."""
    torch.manual_seed(2)
    reference = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None).eval()  # random init, no download
    visual = reference.visual.state_dict()
    assert len(visual) == 152 and visual["transformer.resblocks.0.attn.in_proj_weight"].shape == (2304, 768)
    tables = {i: torch.randn(12, 1, 2) for i in range(1, 12)}
    path = save_tcclip_checkpoint(tmp_path / "zero_shot_k400_tc_clip.pth", visual, tables, module_prefix=True)
    raw = torch.load(path, map_location="cpu", weights_only=True)["model"]
    assert len(raw) == 211 and all(k.startswith("module.image_encoder.") for k in raw)
    torch.testing.assert_close(raw["module.image_encoder.transformer.resblocks.3.attn.v_proj.weight"],
                               visual["transformer.resblocks.3.attn.in_proj_weight"][1536:], rtol=0, atol=0)

    encoder = FrozenVideoEncoder(VideoEncoderConfig(backbone="tcclip-vit-b16", weights=str(path)))
    summary = encoder.tcclip_summary  # every image_encoder tensor is consumed except the 11 bias tables
    assert (summary.image_encoder_keys, summary.mapped_keys, summary.merged_qkv_blocks) == (211, 152, 12)
    assert summary.unmapped == tuple(sorted(f"image_encoder.transformer.resblocks.{i}.attn.local_global_bias_table"
                                            for i in range(1, 12)))
    assert summary.other_keys == 0 and "11 without counterpart" in encoder.load_summary
    converted = encoder.backbone.state_dict()
    assert converted.keys() == visual.keys()
    assert all(torch.equal(converted[k], visual[k]) for k in visual)
    assert sum(p.numel() for p in encoder.parameters()) == 86_192_640

    frames = random_frames(1, 2, 120, 160)
    ours = encoder(frames)
    pixels = preprocess_frames(frames[0], 224, IMAGENET_MEAN_255, IMAGENET_STD_255)
    with torch.inference_mode():
        theirs = reference.encode_image(pixels)  # CLS after ln_post and proj, (2,512)
    assert ours.v_l.shape == (1, 2, 512)
    torch.testing.assert_close(ours.v_l[0], theirs, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------------- weight files


def _tiny_reference():
    torch.manual_seed(3)
    return build_clip_visual(vision_overrides=TINY_VIT).eval()


def test_clip_weight_files_load_without_download(tmp_path):
    from safetensors.torch import save_file

    reference = _tiny_reference()
    state = reference.state_dict()
    files = {}
    # open_clip safetensors (full CLIP naming, fp16 like OpenAI's release)
    files["st"] = tmp_path / "open_clip_model.safetensors"
    save_file({f"visual.{k}": v.half().contiguous() for k, v in state.items()}, str(files["st"]))
    # open_clip training checkpoint with a DDP prefix, read with weights_only=True
    files["pt"] = tmp_path / "epoch_1.pt"
    torch.save({"epoch": 1, "state_dict": {f"module.visual.{k}": v for k, v in state.items()}}, files["pt"])
    # OpenAI-style TorchScript archive
    files["jit"] = tmp_path / "ViT-B-16.pt"

    class Clip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = reference

        def forward(self, x):
            return self.visual(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(Clip().eval(), torch.randn(1, 3, 64, 64)).save(str(files["jit"]))

    frames = random_frames(1, 3, 40, 40)
    pixels = preprocess_frames(frames[0], 64, IMAGENET_MEAN_255, IMAGENET_STD_255)
    for kind, path in files.items():
        enc = FrozenVideoEncoder(VideoEncoderConfig(backbone="clip-vit-b16", weights=str(path),
                                                    clip_vision_overrides=TINY_VIT))
        want = {k: v.half().float() for k, v in state.items()} if kind == "st" else state
        got = enc.backbone.state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want), kind
        if kind != "st":
            with torch.inference_mode():
                expected = reference(pixels)
            torch.testing.assert_close(enc(frames).v_l[0], expected, rtol=0, atol=1e-5)


def test_missing_weight_files_raise_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # empty open_clip / HF caches
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    missing = tmp_path / "nowhere" / "ViT-B-16.pt"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        FrozenVideoEncoder(VideoEncoderConfig(backbone="clip-vit-b16", weights=str(missing)))
    with pytest.raises(FileNotFoundError, match="caches hold no OpenAI"):
        FrozenVideoEncoder(VideoEncoderConfig(backbone="clip-vit-b16"))
    missing = tmp_path / "zero_shot_k400_tc_clip_newkeys.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing)) + ".*naver-ai/tc-clip"):
        FrozenVideoEncoder(VideoEncoderConfig(backbone="tcclip-vit-b16", weights=str(missing)))
    missing = tmp_path / "video_cnn"
    with pytest.raises(CheckpointError, match=re.escape(f"{missing}.safetensors")):
        FrozenVideoEncoder(VideoEncoderConfig(backbone="small-cnn", weights=str(missing)))
    # a file that is not a TC-CLIP checkpoint
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"ckpt\['model'\]"):
        FrozenVideoEncoder(VideoEncoderConfig(backbone="tcclip-vit-b16", weights=str(tmp_path / "other.pth")))


# ---------------------------------------------------------------------------------------------------- small CNN


def test_small_cnn_saves_loads_and_reproduces(cnn_encoder, tmp_path):
    params = sum(p.numel() for p in cnn_encoder.backbone.parameters())
    assert 0.5e6 <= params <= 2e6
    path = tmp_path / "video_cnn"
    save_small_cnn(path, cnn_encoder.backbone, cnn_encoder.config, trained_on="test")
    assert path.with_suffix(".safetensors").is_file() and path.with_suffix(".json").is_file()
    config = dataclasses.replace(cnn_encoder.config, weights=str(path), allow_random_init=False)
    loaded = FrozenVideoEncoder(config)
    assert str(path) in loaded.load_summary
    clips = random_frames(1, 16, 60, 90)
    torch.testing.assert_close(loaded(clips).v_l, cnn_encoder(clips).v_l, rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="image_size"):
        load_small_cnn(path, dataclasses.replace(config, image_size=128))
    with pytest.raises(CheckpointError, match="cnn_widths"):
        load_small_cnn(path, dataclasses.replace(config, cnn_widths=(32, 64, 128, 256, 256)))


def test_bf16_autocast_returns_float32_close_to_fp32(cnn_encoder):
    config = dataclasses.replace(cnn_encoder.config, autocast_bf16=True)
    bf16 = FrozenVideoEncoder(config)
    bf16.backbone.load_state_dict(cnn_encoder.backbone.state_dict())
    clips = random_frames(1, 4, 32, 32)
    low, full = bf16(clips).v_l, cnn_encoder(clips).v_l
    assert low.dtype == torch.float32
    rel = (low - full).norm() / full.norm()
    assert 0 < rel < 0.05  # bf16 really ran (not bit-identical) and stays close


# ---------------------------------------------------------------------------------------------------- temporal context


def test_temporal_context_starts_as_identity_and_checks_its_input():
    torch.manual_seed(0)
    module = TemporalContext(dim=24, width=16, layers=2, heads=4, num_frames=16).eval()
    v_l = torch.randn(3, 16, 24)
    torch.testing.assert_close(module(v_l), v_l, rtol=0, atol=0)  # W_up = 0: the per-frame features pass unchanged
    with pytest.raises(ValueError, match=r"\(B, 16, d\)"):
        module(torch.randn(3, 8, 24))
    with pytest.raises(ValueError, match="heads"):
        TemporalContext(dim=24, width=18, layers=1, heads=4, num_frames=16)
    with pytest.raises(ValueError, match="temporal_layers applies to backbone 'small-cnn' only"):
        VideoEncoderConfig(backbone="clip-vit-b16", temporal_layers=1)


def test_temporal_context_mixes_frames_only_when_present(cnn_encoder, temporal_encoder):
    """A change to the last frame changes the first frame's v_l through the temporal context, never without it."""
    clip = random_frames(1, 16, 40, 40)
    edited = clip.copy()
    edited[0, -1] = 255 - edited[0, -1]
    for encoder, mixes in ((cnn_encoder, False), (temporal_encoder, True)):
        before, after = encoder(clip).v_l, encoder(edited).v_l
        assert (before[0, -1] - after[0, -1]).abs().max() > 1e-3
        assert bool((before[0, 0] - after[0, 0]).abs().max() > 1e-4) is mixes
    assert cnn_encoder.temporal_context is False and temporal_encoder.temporal_context is True
    per_frame = temporal_encoder.encode_frames(clip[0])[None]                     # (1, 16, d)
    torch.testing.assert_close(temporal_encoder.contextualize(per_frame), temporal_encoder(clip).v_l)


def test_temporal_small_cnn_saves_loads_and_older_checkpoints_still_load(temporal_encoder, cnn_encoder, tmp_path):
    path = tmp_path / "temporal_cnn"
    save_small_cnn(path, temporal_encoder.backbone, temporal_encoder.config)
    config = dataclasses.replace(temporal_encoder.config, weights=str(path), allow_random_init=False)
    clips = random_frames(2, 16, 30, 30)
    torch.testing.assert_close(FrozenVideoEncoder(config)(clips).v_l, temporal_encoder(clips).v_l, rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="temporal_layers"):
        load_small_cnn(path, dataclasses.replace(config, temporal_layers=0))
    # A checkpoint written before the temporal fields existed: read as temporal_layers=0, 16 segments.
    old = tmp_path / "old_cnn"
    save_small_cnn(old, cnn_encoder.backbone, cnn_encoder.config)
    meta = json.loads(old.with_suffix(".json").read_text())
    for name in ("num_segments", "temporal_layers", "temporal_width", "temporal_heads"):
        del meta["config"][name]
    old.with_suffix(".json").write_text(json.dumps(meta))
    loaded = FrozenVideoEncoder(dataclasses.replace(cnn_encoder.config, weights=str(old), allow_random_init=False))
    assert loaded.temporal_context is False
    torch.testing.assert_close(loaded(clips).v_l, cnn_encoder(clips).v_l, rtol=0, atol=0)
