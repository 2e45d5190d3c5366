"""Damaged intermediate files (cut off, overwritten): the job's error names the file
and the output to delete before rerunning, never a bare decoder traceback."""

import numpy as np
import pytest
import torch
from srstudy.base.frames import DamagedFile, frame_name, output_holding, read_rgb, write_png
from srstudy.nets.checkpoint import load_checkpoint
from srstudy.stages.dataset import pack, read_frames
from srstudy.stages.degrade import degrade_frames

FRAMES = [0, 1]


@pytest.fixture
def results(tmp_path):
    """A results/ tree with two frames, their degradations and an h5 set, made by the workflow's code."""
    root = tmp_path / "results"
    rng = np.random.default_rng(7)
    for index in FRAMES:
        write_png(root / "frames/train" / frame_name(index), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    degrade_frames(root / "frames/train", FRAMES, 2, root / "degraded/train/x2")
    pack(root / "frames/train", root / "degraded/train/x2", FRAMES, 2, root / "h5/x2/train.h5")
    return root


def cut(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_the_output_holding_a_file_is_the_folder_its_rule_writes():
    assert output_holding("results/frames/test/000001.png").as_posix() == "results/frames/test"
    assert output_holding("w/results/degraded/eval/x2/bicubic/000001.png").as_posix() == "w/results/degraded/eval/x2"
    assert output_holding("results/ood/bikes/frames/test/000003.png").as_posix() == "results/ood/bikes/frames/test"
    upscaled = "results/ood/bikes/upscaled/x3/elu/seed123/000004.png"
    assert output_holding(upscaled).as_posix() == "results/ood/bikes/upscaled/x3/elu/seed123"
    assert output_holding("results/h5/x2/train.h5").as_posix() == "results/h5/x2/train.h5"


DAMAGES = {
    "cut": cut,
    "overwritten": lambda path: path.write_bytes(b"not a PNG at all"),
    "bytes flipped": lambda path: path.write_bytes(
        (data := path.read_bytes())[:200] + bytes(b ^ 0x5A for b in data[200:260]) + data[260:]
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_frame_names_the_file_and_the_folder_to_delete(results, damage):
    frame = results / "frames/train" / frame_name(1)
    DAMAGES[damage](frame)
    with pytest.raises(DamagedFile) as error:
        degrade_frames(results / "frames/train", FRAMES, 3, results / "degraded/train/x3")
    message = str(error.value)
    assert f"'{frame}' is damaged" in message
    assert f"delete '{results / 'frames/train'}' (the output that holds it) and run the workflow again" in message
    assert not (results / "degraded/train/x3").exists()


def test_a_damaged_bicubic_frame_points_at_its_scale_folder(results):
    bicubic = results / "degraded/train/x2/bicubic" / frame_name(0)
    cut(bicubic, 0.3)
    with pytest.raises(DamagedFile, match=rf"delete '{results / 'degraded/train/x2'}' \(the output"):
        pack(results / "frames/train", results / "degraded/train/x2", FRAMES, 2, results / "h5/x2/eval.h5")


def test_a_cut_h5_set_names_the_file(results):
    h5 = results / "h5/x2/train.h5"
    assert read_frames(h5)[0].shape == (2, 48, 64)
    cut(h5)
    with pytest.raises(DamagedFile, match=rf"'{h5}' is damaged and cannot be read \(.*\): delete it and run"):
        read_frames(h5)


def test_a_cut_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(64)}, "scale": 2}, path)
    cut(path)
    with pytest.raises(DamagedFile, match="model.pt' is damaged and cannot be read"):
        load_checkpoint(path)


def test_a_missing_frame_is_not_called_damaged(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_rgb(tmp_path / frame_name(3))
