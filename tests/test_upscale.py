"""Upscaling: tiled inference equals whole-frame inference, checkpoints load safely and
are refused when they do not match, Cb/Cr come from the bicubic frame."""

import pickle

import numpy as np
import pytest
import skimage.data
import torch
from srstudy.base.colour import rgb_to_ycbcr
from srstudy.base.frames import frame_name, read_rgb, write_png
from srstudy.nets.arch import receptive_radius
from srstudy.nets.build import build_model
from srstudy.nets.checkpoint import CheckpointMismatch, load_checkpoint
from srstudy.nets.device import autocast
from srstudy.nets.tiling import infer_tiled, prepare_for_inference, tile_for
from srstudy.stages.inference import upscale_test_sets

SPEC = {
    "layers": [{"kernel": 9, "channels": 16}, {"kernel": 5, "channels": 8}, {"kernel": 5, "channels": 1}],
    "activation": "tanh",
}


def whole(model, plane):
    with torch.inference_mode():
        x = torch.from_numpy(plane)[None, None].contiguous(memory_format=torch.channels_last)
        return model(x)[0, 0].numpy()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return prepare_for_inference(build_model(SPEC), torch.device("cpu"))


@pytest.mark.parametrize("tile", [16, 37, 64, 500])
def test_tiled_equals_whole_frame(model, tile):
    plane = (skimage.data.camera()[:150, :211] / 255.0).astype(np.float32)
    tiled = infer_tiled(model, plane, receptive_radius(SPEC["layers"]), tile)
    assert np.array_equal(tiled, whole(model, plane))


def test_a_halo_below_the_receptive_radius_is_not_exact(model):
    """The control: the halo is what makes tiles exact."""
    plane = (skimage.data.camera()[:150, :211] / 255.0).astype(np.float32)
    assert not np.allclose(infer_tiled(model, plane, 2, 32), whole(model, plane), atol=1e-6)


def save_checkpoint(path, spec=SPEC, scale=3):
    torch.manual_seed(1)
    state = {k: v.contiguous() for k, v in build_model(spec).state_dict().items()}
    torch.save({"state_dict": state, "spec": {**spec, "lr": 1e-3}, "scale": scale, "epoch": 1}, path)
    return path


def test_matching_checkpoint_loads(tmp_path):
    checkpoint = load_checkpoint(save_checkpoint(tmp_path / "m.pt"), {**SPEC, "lr": 5.0}, 3)
    assert checkpoint["scale"] == 3


def test_mismatching_checkpoint_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt")
    wider = {**SPEC, "layers": [{"kernel": 9, "channels": 64}, *SPEC["layers"][1:]]}
    with pytest.raises(CheckpointMismatch, match="model is .* the config asks for"):
        load_checkpoint(path, wider, 3)
    with pytest.raises(CheckpointMismatch, match="trained for scale 3, not 4"):
        load_checkpoint(path, SPEC, 4)
    with pytest.raises(CheckpointMismatch, match="activation"):
        load_checkpoint(path, {**SPEC, "activation": "relu"}, 3)


class Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_pickled_code_in_a_checkpoint_is_never_run(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "spec": SPEC, "scale": 3, "x": Payload()}, path, pickle_module=pickle)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path, SPEC, 3)


def test_upscale_test_sets_keeps_bicubic_chroma(tmp_path):
    bicubic = skimage.data.astronaut()[:120, :150]
    write_png(tmp_path / "bicubic" / frame_name(7), bicubic)
    upscale_test_sets(
        save_checkpoint(tmp_path / "m.pt"),
        [(tmp_path / "bicubic", [7], tmp_path / "out")],
        spec=SPEC,
        scale=3,
        device="cpu",
        tile=64,
    )
    out = read_rgb(tmp_path / "out" / frame_name(7))
    assert out.shape == bicubic.shape and out.dtype == np.uint8
    chroma_error = np.abs(rgb_to_ycbcr(out)[..., 1:] - rgb_to_ycbcr(bicubic)[..., 1:])
    # Cb/Cr are the bicubic frame's, up to 8-bit rounding of RGB and clipping at the gamut edge.
    assert np.median(chroma_error) < 1.0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [frame_name(7)]


def test_failed_upscale_leaves_no_output(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt")
    with pytest.raises(FileNotFoundError):
        upscale_test_sets(path, [(tmp_path / "missing", [1], tmp_path / "out")], spec=SPEC, scale=3, device="cpu")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


@pytest.mark.parametrize(("precision", "tolerance"), [("bf16", 2e-2), ("fp16", 2e-3)])
def test_mixed_precision_inference_is_close_to_fp32(model, precision, tolerance):
    """Autocast runs the convolutions in half precision: close to fp32, not equal."""
    plane = (skimage.data.camera()[:150, :211] / 255.0).astype(np.float32)
    exact = infer_tiled(model, plane, receptive_radius(SPEC["layers"]), 64)
    mixed = infer_tiled(model, plane, receptive_radius(SPEC["layers"]), 64, precision=precision)
    assert mixed.dtype == np.float32
    assert 0 < np.abs(mixed - exact).max() < tolerance


def test_tile_auto_and_unknown_precision():
    assert tile_for("auto", torch.device("cpu")) == 512
    assert tile_for("auto", torch.device("cuda")) == 1024
    assert tile_for(96, torch.device("cpu")) == 96
    with pytest.raises(ValueError, match="unknown precision 'fp8'; choose one of"):
        autocast(torch.device("cpu"), "fp8")
