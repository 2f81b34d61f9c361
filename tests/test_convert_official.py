"""Conversion of the official HERO release: a fake checkpoint tree with exactly the official layout (keys and shapes
from docs/official-checkpoint-layout.md, random values) at paper size is converted, every tensor is traced to its
target, and the converted generator + RVQ produce codes and motion."""
from __future__ import annotations

import json

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hero_model.checkpoint import load_checkpoint
from hero_model.pipeline import load_rvq
from hero_model.convert_official import ConversionError, convert, main, parse_opt_txt, transfer
from hero_model.hero import HeroGenerator

from test_hero import official_transformer_layout, single_thread  # noqa: F401 (autouse fixture)

rvq = pytest.importorskip("hero_model.rvq", reason="hero_model.rvq (the RVQ-VAE package) is not importable yet")


def official_rvq_layout() -> dict[str, tuple[int, ...]]:
    """Key -> shape of the official `vq_model` (72 keys), written out from the layout doc's RVQ table."""
    shapes: dict[str, tuple[int, ...]] = {
        "encoder.model.0.weight": (512, 263, 3), "encoder.model.0.bias": (512,),
        "encoder.model.4.weight": (512, 512, 3), "encoder.model.4.bias": (512,),
        "decoder.model.0.weight": (512, 512, 3), "decoder.model.0.bias": (512,),
        "decoder.model.4.weight": (512, 512, 3), "decoder.model.4.bias": (512,),
        "decoder.model.6.weight": (263, 512, 3), "decoder.model.6.bias": (263,),
    }
    for s in (2, 3):
        shapes[f"encoder.model.{s}.0.weight"], shapes[f"encoder.model.{s}.0.bias"] = (512, 512, 4), (512,)
        shapes[f"decoder.model.{s}.2.weight"], shapes[f"decoder.model.{s}.2.bias"] = (512, 512, 3), (512,)
        for j in range(3):
            for prefix in (f"encoder.model.{s}.1.model.{j}", f"decoder.model.{s}.0.model.{j}"):
                shapes[f"{prefix}.conv1.weight"], shapes[f"{prefix}.conv1.bias"] = (512, 512, 3), (512,)
                shapes[f"{prefix}.conv2.weight"], shapes[f"{prefix}.conv2.bias"] = (512, 512, 1), (512,)
    for q in range(6):
        shapes[f"quantizer.layers.{q}.codebook"] = (512, 512)
    return shapes


def sinusoid(length: int, dim: int) -> torch.Tensor:
    """The official [length, 1, dim] positional table (standard sin/cos formula)."""
    pe = torch.zeros(length, dim)
    pos = torch.arange(length).float()[:, None]
    div = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe[:, None, :]


def random_state(layout: dict[str, tuple[int, ...]], gen: torch.Generator) -> dict[str, torch.Tensor]:
    state = {}
    for key, shape in layout.items():
        if key == "position_enc.pe":
            state[key] = sinusoid(shape[0], shape[-1])
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.05
    return state


def write_opt(folder: Path, options: dict) -> None:
    lines = ["------------ Options -------------"]
    lines += [f"{k}: {v}" for k, v in sorted(options.items())]
    lines.append("-------------- End ----------------")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "opt.txt").write_text("\n".join(lines) + "\n")


TRANSFORMER_OPT = dict(latent_dim=384, ff_size=1024, n_layers=6, n_heads=6, dropout=0.2, share_weight=False,
                       vq_name="rvq_finetune", unit_length=4, max_motion_length=200, dataset_name="vimo",
                       checkpoints_dir="./checkpoints", is_train=True, lr=0.0002, gpu_id=0, batch_size=64)


@pytest.fixture(scope="module")
def official_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    gen = torch.Generator().manual_seed(0)
    vimo = root / "vimo"
    # RVQ
    rvq_dir = vimo / "rvq_finetune"
    write_opt(rvq_dir, dict(nb_code=512, code_dim=512, output_emb_width=512, down_t=2, stride_t=2, width=512, depth=3,
                            dilation_growth_rate=3, vq_act="relu", vq_norm="None", num_quantizers=6,
                            shared_codebook=False, quantize_dropout_prob=0.2, mu=0.99, name="rvq_finetune"))
    (rvq_dir / "model").mkdir()
    sources = {"rvq": random_state(official_rvq_layout(), gen)}
    torch.save({"vq_model": sources["rvq"], "ep": 9}, rvq_dir / "model" / "net_best_fid.tar")
    (rvq_dir / "meta").mkdir()
    mean = np.random.default_rng(0).normal(size=263).astype(np.float32)
    std = np.random.default_rng(1).uniform(0.1, 1.0, size=263).astype(np.float32)
    np.save(rvq_dir / "meta" / "mean.npy", mean)
    np.save(rvq_dir / "meta" / "std.npy", std)
    # transformers
    for kind, folder, key, drop in (("masked", "mtrans_vimo", "t2m_transformer", 0.1),
                                    ("residual", "rtrans_vimo", "res_transformer", 0.2)):
        d = vimo / folder
        write_opt(d, {**TRANSFORMER_OPT, "cond_drop_prob": drop, "name": folder})
        (d / "model").mkdir()
        sources[kind] = random_state(official_transformer_layout(kind), gen)
        torch.save({key: sources[kind], "ep": 123}, d / "model" / "net_best_fid.tar")
    # a folder that must be ignored (the evaluator's options)
    write_opt(vimo / "Comp_v6_KLD005", dict(dim_pose=263, name="Comp_v6_KLD005"))
    return root, sources, mean, std


def test_parse_opt_txt_types(tmp_path):
    write_opt(tmp_path, dict(a=True, b=False, c=0.25, d=512, e="None", f="relu", g="./checkpoints"))
    opts = parse_opt_txt(tmp_path / "opt.txt")
    assert opts == dict(a=True, b=False, c=0.25, d=512, e="None", f="relu", g="./checkpoints")
    assert type(opts["d"]) is int and type(opts["c"]) is float
    with pytest.raises(ConversionError, match="missing options file"):
        parse_opt_txt(tmp_path / "nope" / "opt.txt")


def test_convert_official_tree(official_tree, tmp_path):
    root, sources, mean, std = official_tree
    summary = convert(root, tmp_path / "out")
    # every source tensor consumed (pe by comparison), every target parameter filled
    assert summary["consumed"] == {"rvq": 72, "masked": 138, "residual": 142}
    assert summary["filled"] == {"rvq": 72, "masked": 137, "residual": 141}

    gen_state = load_file(str(tmp_path / "out" / "generator.safetensors"))
    gen_meta = load_checkpoint(tmp_path / "out" / "generator")[1]
    expected_keys = {f"{kind}.{k}" for kind in ("masked", "residual") for k in sources[kind] if k != "position_enc.pe"}
    assert set(gen_state) == expected_keys
    for kind in ("masked", "residual"):
        for key, value in sources[kind].items():
            if key != "position_enc.pe":
                assert torch.equal(gen_state[f"{kind}.{key}"], value), key
    rvq_state = load_file(str(tmp_path / "out" / "rvq.safetensors"))
    assert set(rvq_state) == set(sources["rvq"])
    for key, value in sources["rvq"].items():
        assert torch.equal(rvq_state[key], value), key

    config = gen_meta["config"]
    assert config["cfg_null_memory"] == "frames" and gen_meta["cfg_null_memory"] == "frames"
    assert config["variant"] == "hero" and config["length_head"] is False
    assert (config["cond_drop_prob"], config["res_cond_drop_prob"]) == (0.1, 0.2)
    assert (config["latent_dim"], config["n_layers"], config["max_motion_tokens"]) == (384, 6, 50)
    assert np.allclose(gen_meta["mean"], mean) and np.allclose(gen_meta["std"], std)  # std kept as is
    assert gen_meta["source"]["masked"].endswith("mtrans_vimo/model/net_best_fid.tar")
    assert gen_meta["source"]["rvq"].endswith("rvq_finetune/model/net_best_fid.tar")
    assert gen_meta["epochs"] == {"rvq": 9, "masked": 123, "residual": 123}
    rvq_meta = load_checkpoint(tmp_path / "out" / "rvq")[1]
    assert rvq_meta["config"]["num_codes"] == 512 and np.allclose(rvq_meta["normalizer_std"], std)
    # the output is a complete model folder for hero_model.pipeline (the RVQ part loads with its normaliser)
    loaded_rvq, normalizer = load_rvq(tmp_path / "out" / "rvq")
    assert np.allclose(normalizer.std, std) and np.allclose(normalizer.mean, mean)
    video = json.loads((tmp_path / "out" / "video_encoder.json").read_text())["config"]
    assert video == {"backbone": "tcclip-vit-b16", "weights": None, "feature_dim": 512}

    # the converted models run: video features -> codes -> motion
    generator, _ = HeroGenerator.load(tmp_path / "out" / "generator")
    frames = torch.randn(2, 16, 512, generator=torch.Generator().manual_seed(1))
    codes, lengths = generator.generate(frames, torch.tensor([16, 40]), steps=2,
                                        generator=torch.Generator().manual_seed(0))
    assert codes.shape == (2, 10, 6) and lengths.tolist() == [16, 40]
    assert ((codes[0, :4] >= 0) & (codes[0, :4] < 512)).all() and (codes[0, 4:] == -1).all()
    assert ((codes[1] >= 0) & (codes[1] < 512)).all()
    vae = rvq.RVQVAE(rvq.RVQConfig.from_dict(rvq_meta["config"]))
    vae.load_state_dict(rvq_state, strict=True)
    motion = vae.eval().decode(codes)
    assert motion.shape == (2, 40, 263) and torch.isfinite(motion).all()


def test_explicit_folders_and_missing_file_errors(official_tree, tmp_path, capsys):
    root, _, _, _ = official_tree
    vimo = root / "vimo"
    # explicit flags, swapped on purpose: the checkpoint's key exposes the mistake
    with pytest.raises(ConversionError, match="not a masked transformer"):
        convert(root, tmp_path / "x", masked=vimo / "rtrans_vimo")
    # a missing file is one clear error naming it (CLI: exit code 2, message on stderr)
    std = vimo / "rvq_finetune" / "meta" / "std.npy"
    moved = tmp_path / "std.npy"
    shutil.move(std, moved)
    try:
        assert main([str(root), "--out", str(tmp_path / "y"), "--vq", str(vimo / "rvq_finetune"),
                     "--masked", str(vimo / "mtrans_vimo"), "--residual", str(vimo / "rtrans_vimo")]) == 2
        assert f"missing normalisation file: {std}" in capsys.readouterr().err
    finally:
        shutil.move(moved, std)
    with pytest.raises(ConversionError, match="missing checkpoints directory"):
        convert(tmp_path / "nowhere", tmp_path / "z")


def test_transfer_reports_unconsumed_and_unfilled_keys():
    target = {"m.a": torch.zeros(2), "m.b": torch.zeros(3)}
    out, report = transfer({"a": torch.ones(2), "b": torch.ones(3)}, target, "m.", "src")
    assert report.consumed == ["a", "b"] and report.filled == ["m.a", "m.b"] and torch.equal(out["m.a"], torch.ones(2))
    expected = r"unconsumed source keys \['extra'\]; unfilled target parameters \['m.b'\]"
    with pytest.raises(ConversionError, match=expected):
        transfer({"a": torch.ones(2), "extra": torch.ones(1)}, target, "m.", "src")
    with pytest.raises(ConversionError, match="shape"):
        transfer({"a": torch.ones(4), "b": torch.ones(3)}, target, "m.", "src")
    with pytest.raises(ConversionError, match="differs from the table"):
        transfer({"pe": torch.ones(5, 1, 4), "a": torch.ones(2), "b": torch.ones(3)}, target, "m.", "src",
                 checked={"pe": sinusoid(3, 4)[:, 0]})
