"""The model registry (srstudy/nets/registry.py): SRCNN, FSRCNN and ESPCN built from config,
their declared halo (tiled == whole-frame output), parameter counts, FLOPs, parameter
groups, the config keys they add, and a real training and upscaling run on the LR grid."""

import json
import re

import h5py
import numpy as np
import pytest
import skimage.data
import torch
import yaml
from conftest import REPO, SCHEMA
from srstudy.base.colour import rgb_to_ycbcr
from srstudy.base.frames import frame_name, read_rgb, write_png
from srstudy.nets import fsrcnn, registry
from srstudy.nets.build import build_model, halo_of, parameter_count, parameter_groups
from srstudy.nets.checkpoint import load_checkpoint
from srstudy.nets.tiling import infer_tiled, prepare_for_inference
from srstudy.plan.config import load_schema, validate_schema
from srstudy.plan.configdoc import undocumented
from srstudy.plan.errors import ConfigError
from srstudy.plan.preflight import check_semantics
from srstudy.plan.variants import variant_spec
from srstudy.stages.dataset import pack, read_frames
from srstudy.stages.degrade import degrade_frames
from srstudy.stages.inference import read_timing, upscale_test_sets
from srstudy.train.loop import train
from srstudy.train.patches import gather

FSRCNN_PAPER = {"arch": "fsrcnn", "fsrcnn": {"d": 56, "s": 12, "m": 4, "activation": "prelu", "deconv_kernel": 9}}
ESPCN_PAPER = {
    "arch": "espcn",
    "espcn": {
        "layers": [{"kernel": 5, "channels": 64}, {"kernel": 3, "channels": 32}],
        "last_kernel": 3,
        "activation": "tanh",
    },
}
SRCNN_DEFAULT = {
    "arch": "srcnn",
    "layers": [{"kernel": 9, "channels": 64}, {"kernel": 5, "channels": 32}, {"kernel": 5, "channels": 1}],
    "activation": "relu",
}
SMALL = {
    "srcnn": {**SRCNN_DEFAULT, "layers": [{"kernel": 5, "channels": 8}, {"kernel": 3, "channels": 1}]},
    "fsrcnn": {"arch": "fsrcnn", "fsrcnn": {"d": 8, "s": 4, "m": 2, "activation": "prelu", "deconv_kernel": 9}},
    "espcn": {
        "arch": "espcn",
        "espcn": {
            "layers": [{"kernel": 5, "channels": 8}, {"kernel": 3, "channels": 4}],
            "last_kernel": 3,
            "activation": "tanh",
        },
    },
}


def whole(model, plane):
    with torch.inference_mode():
        return model(torch.from_numpy(plane)[None, None])[0, 0].numpy()


def test_the_registry_names_the_three_architectures():
    assert list(registry.ARCHS) == ["srcnn", "fsrcnn", "espcn"]
    assert {a.grid for a in registry.ARCHS.values()} == {"hr", "lr"}
    assert registry.arch_of({}).name == "srcnn"  # specs and checkpoints from before the registry
    with pytest.raises(ValueError, match="unknown arch 'vdsr'"):
        registry.arch_of({"arch": "vdsr"})


def test_paper_sizes_parameter_counts():
    # FSRCNN(56, 12, 4): 5x5 1->56, 1x1 56->12, 4 x 3x3 12->12, 1x1 12->56, 9x9 deconv 56->1;
    # each conv's weights and biases, PReLU one slope per channel.
    fsrcnn = (25 * 56 + 56) + (56 * 12 + 12) + 4 * (9 * 144 + 12) + (12 * 56 + 56) + (81 * 56 + 1)
    fsrcnn += 56 + 12 + 4 * 12 + 56
    assert parameter_count(build_model(FSRCNN_PAPER, 3)) == fsrcnn
    # ESPCN x3: 5x5 1->64, 3x3 64->32, 3x3 32->9 (r^2), then the pixel shuffle.
    espcn = (25 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 * 9 + 9)
    assert parameter_count(build_model(ESPCN_PAPER, 3)) == espcn


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_size_follows_the_input_grid(name, scale):
    spec = SMALL[name]
    model = build_model(spec, scale)
    factor = registry.arch_of(spec).factor(scale)
    assert model(torch.rand(1, 1, 13, 17)).shape == (1, 1, 13 * factor, 17 * factor)


def test_post_upsampling_models_need_the_scale():
    with pytest.raises(ValueError, match="with the scale"):
        build_model(FSRCNN_PAPER)


@pytest.mark.parametrize("spec", [SRCNN_DEFAULT, FSRCNN_PAPER, ESPCN_PAPER], ids=["srcnn", "fsrcnn", "espcn"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_macs_count_every_weight_once_per_input_pixel(spec, scale):
    """Each weight is one multiply-accumulate per input pixel: per output pixel that is
    the weight count over factor^2."""
    model = build_model(spec, scale)
    weights = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 4)
    factor = registry.arch_of(spec).factor(scale)
    assert registry.arch_of(spec).macs(spec, scale) == pytest.approx(weights / factor**2)


def test_post_upsampling_costs_far_less_per_4k_frame():
    srcnn = registry.gflops_per_frame(SRCNN_DEFAULT, 3)
    assert srcnn == pytest.approx(2 * (81 * 64 + 25 * 64 * 32 + 25 * 32) * 3840 * 2160 / 1e9)
    assert registry.gflops_per_frame(FSRCNN_PAPER, 3) < srcnn / 20
    assert registry.gflops_per_frame(ESPCN_PAPER, 3) < srcnn / 10


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("tile", [12, 29, 64])
def test_tiled_inference_equals_whole_frame(name, scale, tile):
    """Tiles on the input grid with the declared halo give the whole-frame output; the
    plane is not a multiple of the tile and tiles are smaller than the receptive field."""
    spec = SMALL[name]
    torch.manual_seed(scale)
    model = build_model(spec, scale).eval()
    factor = registry.arch_of(spec).factor(scale)
    plane = np.random.default_rng(scale).random((41, 53), dtype=np.float32)
    tiled = infer_tiled(model, plane, halo_of(spec, scale), tile, torch.device("cpu"), factor=factor)
    assert tiled.shape == (41 * factor, 53 * factor)
    np.testing.assert_allclose(tiled, whole(model, plane), rtol=0, atol=2e-6)


@pytest.mark.parametrize("name", ["srcnn", "fsrcnn", "espcn"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_a_halo_too_small_breaks_tiling(name, scale):
    """The check above can fail, and the declared halo is tight: one pixel less changes
    the output."""
    spec = SMALL[name]
    factor = registry.arch_of(spec).factor(scale)
    torch.manual_seed(0)
    model = build_model(spec, scale).eval()
    plane = np.random.default_rng(0).random((41, 53), dtype=np.float32)
    short = infer_tiled(model, plane, halo_of(spec, scale) - 1, 30, torch.device("cpu"), factor=factor)
    assert np.abs(short - whole(model, plane)).max() > 1e-4


@pytest.mark.parametrize("spec,last", [(FSRCNN_PAPER, "ConvTranspose2d"), (ESPCN_PAPER, "Conv2d")])
def test_the_output_layer_gets_the_lr_factor(spec, last):
    model = build_model(spec, 3)
    groups = parameter_groups(model, 1e-3, 0.1, spec)
    assert groups[1]["lr"] == pytest.approx(1e-4)
    output = [m for m in model.modules() if type(m).__name__ == last][-1]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in output.parameters()}
    assert sum(p.numel() for g in groups for p in g["params"]) == parameter_count(model)


@pytest.mark.parametrize("kernel,scale", [(9, 2), (9, 3), (9, 4), (3, 4), (5, 8), (9, 12)])
def test_deconvolution_makes_exactly_scale_times_the_input(kernel, scale):
    padding, extra = fsrcnn.deconv_padding(kernel, scale)
    assert 0 <= extra < scale
    assert (10 - 1) * scale - 2 * padding + kernel + extra == 10 * scale


def test_gather_cuts_the_hr_target_of_an_lr_patch():
    hr = torch.arange(2 * 12 * 15, dtype=torch.uint8).reshape(2, 12, 15)
    origins = torch.tensor([[1, 2, 3], [0, 0, 1]])
    targets = gather(hr, origins, 6, factor=3)
    assert targets.shape == (2, 1, 6, 6)
    assert torch.equal(targets[0, 0], hr[1, 6:12, 9:15])
    assert torch.equal(targets[1, 0], hr[0, 0:6, 3:9])


# --- config -----------------------------------------------------------------------------


def load(text: str) -> dict:
    base = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    return base | yaml.safe_load(text)


def test_arch_blocks_default_to_the_papers_and_merge_per_key():
    config = validate_schema(
        load("variants: {default: {}, fast: {arch: fsrcnn, fsrcnn: {m: 2}}, sub: {arch: espcn}}"), SCHEMA
    )
    fast, sub, default = (variant_spec(config, v) for v in ("fast", "sub", "default"))
    assert fast["fsrcnn"] == {"d": 56, "s": 12, "m": 2, "activation": "prelu", "deconv_kernel": 9}
    assert sub["espcn"] == ESPCN_PAPER["espcn"]
    assert default["arch"] == "srcnn"
    # A job's settings carry its own architecture's block only.
    assert "fsrcnn" not in registry.own_settings(sub) and "espcn" in registry.own_settings(sub)
    assert registry.model_spec(fast) == {"arch": "fsrcnn", "fsrcnn": fast["fsrcnn"]}


@pytest.mark.parametrize(
    "variants,message",
    [
        ("{x: {arch: vdsr}}", "variants.x.arch: 'vdsr' is not one of ['srcnn', 'fsrcnn', 'espcn']"),
        ("{x: {arch: fsrcnn, fsrcnn: {dd: 3}}}", "variants.x.fsrcnn: unknown key 'dd' (did you mean 'd'?)"),
        ("{x: {arch: fsrcnn, fsrcnn: {m: -1}}}", "variants.x.fsrcnn.m: -1 is less than the minimum of 0"),
        ("{x: {arch: espcn, espcn: {activation: swish}}}", "variants.x.espcn.activation: 'swish' is not one of"),
    ],
)
def test_bad_arch_settings_name_the_key(variants, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_schema(load(f"variants: {variants}"), SCHEMA)


def test_even_espcn_kernels_are_refused_naming_the_variant():
    config = validate_schema(load("variants: {default: {}, x: {arch: espcn, espcn: {last_kernel: 4}}}"), SCHEMA)
    with pytest.raises(ConfigError, match=r"variants\.x\.espcn: kernel sizes must be odd"):
        check_semantics(config)


def test_a_search_needs_srcnn():
    config = load("defaults: {arch: espcn}\nsearch: {tuned: {space: {lr: [1.0e-3]}}}")
    config = validate_schema(config, SCHEMA)
    with pytest.raises(ConfigError, match=r"search\.tuned: a search tunes SRCNN's layers"):
        check_semantics(config)


def test_the_registry_keys_are_documented():
    schema = load_schema(SCHEMA)
    assert undocumented(schema) == []
    text = (REPO / "config/README.md").read_text()
    for key in ("defaults.arch", "defaults.fsrcnn.d", "defaults.espcn.last_kernel", "variants.<name>.fsrcnn.m"):
        assert f"`{key}`" in text


# --- data, training and upscaling on the LR grid -------------------------------------------

SCALE = 3
TRAINING = {
    "lr": 3e-3,
    "last_layer_lr_factor": 0.1,
    "batch_size": 8,
    "epochs": 2,
    "patch_size": 21,
    "patch_stride": 14,
    "patches_per_epoch": 64,
}


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("lr_grid")
    images = [skimage.data.astronaut()[:240, :300], skimage.data.coffee()[:240, :300], skimage.data.chelsea()[:240]]
    for index, image in enumerate(images):
        write_png(root / "frames" / frame_name(index), image[:240, :300])
    degrade_frames(root / "frames", [0, 1, 2], SCALE, root / "degraded")
    for grid in ("hr", "lr"):
        pack(root / "frames", root / "degraded", [0, 1], SCALE, root / grid / "train.h5", grid=grid)
        pack(root / "frames", root / "degraded", [2], SCALE, root / grid / "eval.h5", grid=grid)
    return root


def test_lr_sets_hold_the_lr_frames(frames):
    hr, lr, attrs = read_frames(frames / "lr" / "train.h5")
    assert hr.shape == (2, 240, 300) and lr.shape == (2, 80, 100)
    assert attrs["grid"] == "lr"
    expected = np.rint(rgb_to_ycbcr(read_rgb(frames / "degraded" / "lr" / frame_name(1)))[..., 0]).astype(np.uint8)
    assert np.array_equal(lr[1], expected)
    with h5py.File(frames / "hr" / "train.h5") as h5:
        assert "grid" not in h5.attrs  # SRCNN's sets are written as before


@pytest.mark.parametrize("name", ["fsrcnn", "espcn"])
def test_lr_grid_models_train_and_upscale(frames, tmp_path, name):
    spec = {**SMALL[name], **TRAINING}
    out = tmp_path / name
    best = train(
        frames / "lr" / "train.h5",
        frames / "lr" / "eval.h5",
        spec,
        seed=123,
        scale=SCALE,
        model_path=out / "model.pt",
        log_path=out / "log.csv",
        device="cpu",
        threads=1,
        progress=False,
        name=name,
    )
    assert best["arch"] == name and best["spec"]["arch"] == name
    checkpoint = load_checkpoint(out / "model.pt", spec, SCALE, name)
    assert checkpoint["arch"] == name
    # The eval PSNR the training recorded is the model's on the eval set's LR planes.
    model = prepare_for_inference(build_model(spec, SCALE), torch.device("cpu"))
    model.load_state_dict(checkpoint["state_dict"])
    hr, lr, _ = read_frames(frames / "lr" / "eval.h5")
    y = np.clip(infer_tiled(model, lr[0] / np.float32(255), halo_of(spec, SCALE), 64, factor=SCALE), 0, 1)
    mse = np.mean((hr[0] / 255.0 - y) ** 2)
    assert 10 * np.log10(1 / mse) == pytest.approx(best["eval_psnr_y"], abs=1e-3)
    # Upscaling reads the LR frames beside the bicubic ones and writes full-size frames.
    timings = upscale_test_sets(
        out / "model.pt",
        [(frames / "degraded" / "bicubic", [2], out / "up")],
        spec=spec,
        scale=SCALE,
        device="cpu",
        tile=64,
    )
    frame = read_rgb(out / "up" / frame_name(2))
    assert frame.shape == read_rgb(frames / "degraded" / "bicubic" / frame_name(2)).shape
    assert timings[0]["ms_per_frame"] > 0 and timings[0]["width"] == 300 and timings[0]["height"] == 240


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    from srstudy.nets.checkpoint import CheckpointMismatch
    from srstudy.train.resume import save_atomic

    spec = {**SMALL["espcn"], **TRAINING}
    path = tmp_path / "model.pt"
    save_atomic({"state_dict": build_model(spec, 2).state_dict(), "spec": spec, "scale": 2, "variant": "x"}, path)
    with pytest.raises(CheckpointMismatch, match="its arch is espcn, the config asks for fsrcnn"):
        load_checkpoint(path, {**SMALL["fsrcnn"], **TRAINING}, 2, "x")
    with pytest.raises(CheckpointMismatch, match="its model is {'espcn': "):
        load_checkpoint(path, {**spec, "espcn": {**spec["espcn"], "last_kernel": 5}}, 2, "x")


def test_an_lr_grid_model_refuses_srcnn_sets(frames, tmp_path):
    with pytest.raises(ValueError, match="reads the lr grid"):
        train(
            frames / "hr" / "train.h5",
            frames / "hr" / "eval.h5",
            {**SMALL["espcn"], **TRAINING},
            seed=123,
            scale=SCALE,
            model_path=tmp_path / "model.pt",
            log_path=tmp_path / "log.csv",
            device="cpu",
            progress=False,
        )


def test_timing_round_trips(tmp_path):
    from srstudy.stages.inference import write_timing

    write_timing(tmp_path / "t.json", {"ms_per_frame": 1.5})
    assert read_timing(tmp_path / "t.json") == {"ms_per_frame": 1.5}
    assert json.loads((tmp_path / "t.json").read_text())["ms_per_frame"] == 1.5


def test_the_video_upscaler_feeds_lr_grid_models_the_decoded_frame(tmp_path, capsys):
    """``bash run.sh upscale`` with an ESPCN checkpoint: each output frame is the model's
    output on the decoded (LR) frame, Cb/Cr from its bicubic upscale, bit for bit."""
    from conftest import BIKES_SPEC, read_sequential
    from srstudy.stages.inference import upscale_frame
    from srstudy.stages.upscale_video import bicubic_upscale, main
    from srstudy.stages.video import resolve_video
    from srstudy.train.resume import save_atomic

    spec, scale = SMALL["espcn"], 2
    torch.manual_seed(5)
    model = build_model(spec, scale)
    checkpoint = tmp_path / "model.pt"
    save_atomic({"state_dict": model.state_dict(), "spec": spec, "scale": scale, "variant": "espcn"}, checkpoint)
    clip, out = resolve_video(BIKES_SPEC), tmp_path / "up.mkv"
    main([str(clip), "--model", str(checkpoint), "-o", str(out), "--frames", "2", "--lossless", "--device", "cpu"])
    assert "2 frames, 1280x544 (x2)" in capsys.readouterr().err
    model = prepare_for_inference(model, torch.device("cpu"))
    for original, frame in zip(read_sequential(clip, 2), read_sequential(out), strict=True):
        expected = upscale_frame(model, bicubic_upscale(original, scale), halo_of(spec, scale), 512, lr_rgb=original)
        assert np.array_equal(frame, expected)
