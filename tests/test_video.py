"""Stage 1: locating, probing and decoding videos into exact 0-based frames."""

import hashlib
import json
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import BBB_FRAMES, BBB_SPEC, BIKES_SPEC, SYNTHETIC_FRAMES, SYNTHETIC_SIZE
from srstudy.base.frames import frame_name, read_rgb
from srstudy.stages.video import (
    FrameSizeMismatch,
    VideoError,
    VideoInfo,
    decode_frames,
    extract_frames,
    probe,
    read_manifest,
    resolve_video,
    select_expression,
)


def keyframes(ffmpeg_exe: str, path: Path, count: int = 10_000) -> set[int]:
    """Presentation-order numbers of the keyframes among the first ``count`` frames,
    from ffmpeg's showinfo filter."""
    result = subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-nostdin", "-i", str(path), "-vf", "showinfo"]
        + ["-frames:v", str(count), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.findall(r"\bn:\s*(\d+)\b.*?\biskey:([01])", result.stderr)
    assert found, result.stderr[-2000:]
    return {int(n) for n, key in found if key == "1"}


# --- resolve_video ---------------------------------------------------------------


@pytest.mark.parametrize("spec", [BBB_SPEC, BIKES_SPEC])
def test_resolve_package_spec_finds_the_shipped_file(spec):
    path = resolve_video(spec)
    assert path.is_absolute()
    assert path.is_file()
    assert path.parts[-4:] == tuple(spec.split("/")[1:])


def test_resolve_plain_path_is_kept_as_given():
    assert resolve_video("resources/bbb_2160p.mp4") == Path("resources/bbb_2160p.mp4")


def test_resolve_unknown_distribution_is_a_clear_error():
    with pytest.raises(VideoError) as error:
        resolve_video("package:no-such-distribution-xyz/clip.mp4")
    message = str(error.value)
    assert "no-such-distribution-xyz" in message
    assert "pip install no-such-distribution-xyz" in message
    assert "file path" in message


# --- probe -----------------------------------------------------------------------


def test_probe_embedded_clip(bbb_clip):
    info = probe(bbb_clip)
    assert (info.width, info.height) == (1280, 720)
    assert info.fps == 25
    assert info.duration == pytest.approx(5.31, abs=0.05)
    assert abs(info.approx_frames - 132) <= 2
    assert info.path == str(bbb_clip)


def test_probe_synthetic_clip(synthetic_clip):
    info = probe(synthetic_clip)
    assert (info.width, info.height) == SYNTHETIC_SIZE
    assert info.fps == 25
    assert info.approx_frames == SYNTHETIC_FRAMES


# --- select_expression: evaluated by real ffmpeg ------------------------------------


def ffmpeg_selects(ffmpeg_exe: str, expression: str, length: int = 201) -> list[int]:
    """The frame numbers n in 0..length-1 that ffmpeg's select filter keeps for
    ``expression`` (nullsrc at 25 fps: a frame's pts in 1/25 s is its number n)."""
    graph = f"trim=end_frame={length},select='{expression}',showinfo"
    result = subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-nostdin", "-f", "lavfi", "-i", "nullsrc=size=16x16:rate=25"]
        + ["-vf", graph, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [int(pts) for pts in re.findall(r"\bpts:\s*(\d+)", result.stderr)]


SELECT_CASES = [
    [0],
    [200],
    [0, 200],
    [7, 3, 3, 5],  # unsorted, duplicated
    list(range(201)),
    list(range(5, 201, 7)),
    list(range(155, 200, 10)) + list(range(0, 80, 4)),
    [0, 2, 4, 5, 6, 7, 50, 51, 100, 150, 200],  # runs of different steps back to back
    [1, 2, 4, 8, 16, 32, 64, 128],
    [10, 11, 13, 16, 20, 25, 31],
]


@pytest.mark.parametrize("indices", SELECT_CASES, ids=lambda ids: f"{len(ids)}frames")
def test_select_expression_selects_exactly_the_frames(ffmpeg_exe, indices):
    assert ffmpeg_selects(ffmpeg_exe, select_expression(indices)) == sorted(set(indices))


def test_select_expression_random_sets(ffmpeg_exe):
    rng = np.random.default_rng(2023)
    for _ in range(25):
        indices = rng.choice(201, size=int(rng.integers(1, 60)), replace=False).tolist()
        expression = select_expression(indices)
        assert ffmpeg_selects(ffmpeg_exe, expression) == sorted(indices), expression


def test_select_expression_is_short_for_ranges():
    assert select_expression(list(range(155, 446, 10))) == "between(n,155,445)*not(mod(n-155,10))"
    assert select_expression(list(range(100, 132))) == "between(n,100,131)"


# --- extract_frames ---------------------------------------------------------------


def test_extract_frames_writes_exactly_the_frames_and_a_manifest(tmp_path, synthetic_clip):
    wanted = [11, 0, 5, 3, 5]
    out = tmp_path / "frames"
    extract_frames(synthetic_clip, wanted, out, threads=2)
    expected = sorted(set(wanted))
    assert sorted(p.name for p in out.iterdir()) == sorted([frame_name(i) for i in expected] + ["manifest.json"])
    for index in expected:
        rgb = read_rgb(out / frame_name(index))
        assert rgb.shape == (SYNTHETIC_SIZE[1], SYNTHETIC_SIZE[0], 3)
        assert rgb.dtype == np.uint8
    manifest = read_manifest(out)
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["frames"] == expected
    assert manifest["sha256"] == hashlib.sha256(synthetic_clip.read_bytes()).hexdigest()
    assert (manifest["width"], manifest["height"], manifest["fps"]) == (*SYNTHETIC_SIZE, 25)
    assert manifest["path"] == str(synthetic_clip)
    # Nothing else left beside the output (no temporary folders).
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]


def test_extracted_frames_equal_sequential_decode_synthetic(
    synthetic_clip, synthetic_frames_dir, ffmpeg_exe, sequential_decode
):
    """Frame N from extract_frames is frame N counted by another decoder; the clip has
    B-frames, so this fails if frames were numbered in decode order or by timestamp."""
    sequential = sequential_decode(synthetic_clip)
    assert len(sequential) == SYNTHETIC_FRAMES
    assert keyframes(ffmpeg_exe, synthetic_clip) == {0}
    for index in range(SYNTHETIC_FRAMES):
        extracted = read_rgb(synthetic_frames_dir / frame_name(index))
        np.testing.assert_array_equal(extracted, sequential[index], err_msg=f"frame {index}")
    # The comparison can tell neighbours apart: every frame of testsrc2 differs.
    for index in range(1, SYNTHETIC_FRAMES):
        assert not np.array_equal(sequential[index], sequential[index - 1])


def test_extracted_frames_equal_sequential_decode_embedded_clip(
    bbb_clip, bbb_frames_dir, ffmpeg_exe, sequential_decode
):
    count = max(BBB_FRAMES) + 2
    sequential = sequential_decode(bbb_clip, count=count)
    non_key = [i for i in BBB_FRAMES if i not in keyframes(ffmpeg_exe, bbb_clip, count)]
    assert non_key, "the comparison must include a frame that is not a keyframe"
    for index in BBB_FRAMES:
        extracted = read_rgb(bbb_frames_dir / frame_name(index))
        assert extracted.shape == (720, 1280, 3)
        np.testing.assert_array_equal(extracted, sequential[index], err_msg=f"frame {index}")
        assert not np.array_equal(extracted, sequential[index + 1])


def test_embedded_clip_has_132_decodable_frames(bbb_clip):
    """The exact count, decoded: frame 131 is the last one, frame 132 is refused."""
    reader = imageio_ffmpeg.read_frames(str(bbb_clip), pix_fmt="rgb24")
    width, height = next(reader)["size"]
    count = last = 0
    for count, last in enumerate(reader, start=1):  # noqa: B007 (the last one is kept)
        pass
    assert count == 132
    ((index, rgb),) = list(decode_frames(bbb_clip, [131]))
    assert index == 131
    np.testing.assert_array_equal(rgb, np.frombuffer(last, np.uint8).reshape(height, width, 3))
    with pytest.raises(VideoError, match="fewer frames"):
        list(decode_frames(bbb_clip, [130, 132]))


# --- bad input ---------------------------------------------------------------------


def _missing(tmp_path):
    return tmp_path / "no_such_video.mp4"


def _empty(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _text(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is a text file, not a video\n" * 20)
    return path


BAD_VIDEOS = {
    "missing": (_missing, "does not exist", "put the file there"),
    "empty": (_empty, "empty", "replace it with the real file"),
    "text": (_text, "not a readable video", "give a video file ffmpeg can decode"),
}


@pytest.mark.parametrize("kind", sorted(BAD_VIDEOS))
def test_bad_video_probe(tmp_path, kind):
    make, problem, fix = BAD_VIDEOS[kind]
    path = make(tmp_path)
    with pytest.raises(VideoError) as error:
        probe(path)
    message = str(error.value)
    assert str(path) in message
    assert problem in message
    assert fix in message


@pytest.mark.parametrize("kind", sorted(BAD_VIDEOS))
def test_bad_video_extract_leaves_no_output(tmp_path, kind):
    make, problem, fix = BAD_VIDEOS[kind]
    path = make(tmp_path)
    out = tmp_path / "results" / "frames"
    with pytest.raises(VideoError) as error:
        extract_frames(path, [0, 1], out)
    assert str(path) in str(error.value) and fix in str(error.value)
    assert not out.exists()
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_more_frames_than_the_video_has(tmp_path, synthetic_clip, synthetic_frames_dir):
    results = tmp_path / "results"
    finished = results / "ood" / "other" / "frames"
    extract_frames(synthetic_clip, [1, 2], finished)
    before = {p.name: p.read_bytes() for p in finished.iterdir()}

    out = results / "frames"
    with pytest.raises(VideoError) as error:
        extract_frames(synthetic_clip, [3, SYNTHETIC_FRAMES, SYNTHETIC_FRAMES + 5], out, threads=2)
    message = str(error.value)
    assert str(synthetic_clip) in message
    assert f"frame {SYNTHETIC_FRAMES}" in message
    assert "fewer frames" in message
    assert "Use frame ranges inside the video" in message
    # No partial output, no leftover temporary folder ...
    assert not out.exists()
    assert sorted(p.name for p in results.iterdir()) == ["ood"]
    # ... and the finished output elsewhere is untouched.
    assert {p.name: p.read_bytes() for p in finished.iterdir()} == before
    assert sorted(p.name for p in finished.parent.iterdir()) == ["frames"]


# --- display geometry: rotation metadata, non-square pixels -------------------------


def with_display_rotation(ffmpeg_exe: str, source: Path, out: Path, degrees: int) -> Path:
    """``source`` re-muxed (stream copy, same coded frames) with a display matrix."""
    subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-display_rotation", str(degrees)]
        + ["-i", str(source), "-c", "copy", str(out)],
        check=True,
    )
    return out


# Counterclockwise quarter turns a player applies for each display rotation.
TURNS = {90: 1, 180: 2, -90: 3, 270: 3}


@pytest.mark.parametrize("degrees", sorted(TURNS))
def test_rotated_video_comes_out_upright(tmp_path, ffmpeg_exe, synthetic_clip, synthetic_frames_dir, degrees):
    rotated = with_display_rotation(ffmpeg_exe, synthetic_clip, tmp_path / "rotated.mp4", degrees)
    width, height = SYNTHETIC_SIZE
    info = probe(rotated)
    assert (info.width, info.height) == ((height, width) if TURNS[degrees] % 2 else (width, height))
    assert info.rotation == degrees % 360
    frames = dict(decode_frames(rotated, [0, 5, 11]))
    for index, frame in frames.items():
        # The coded pixels, turned losslessly: exactly the unrotated clip's frame, rotated.
        expected = np.rot90(read_rgb(synthetic_frames_dir / frame_name(index)), TURNS[degrees])
        assert frame.shape == expected.shape and np.array_equal(frame, expected), index


def test_non_square_pixels_stay_as_coded(tmp_path, ffmpeg_exe, synthetic_clip, synthetic_frames_dir):
    """A 2:1 sample aspect ratio is not resampled: the frames are the coded ones."""
    anamorphic = tmp_path / "sar.mp4"
    subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(synthetic_clip)]
        + ["-c", "copy", "-bsf:v", "h264_metadata=sample_aspect_ratio=2/1", str(anamorphic)],
        check=True,
    )
    info = probe(anamorphic)
    assert info.sar == "2:1" and (info.width, info.height) == SYNTHETIC_SIZE
    for index, frame in decode_frames(anamorphic, [0, 7]):
        assert np.array_equal(frame, read_rgb(synthetic_frames_dir / frame_name(index)))


def test_a_frame_of_another_size_than_announced_is_an_error(tmp_path, ffmpeg_exe, synthetic_clip):
    """What the decoder used to do with a rotated video: read w x h bytes of an h x w
    frame. Now every frame's own size is checked against the probe."""
    rotated = with_display_rotation(ffmpeg_exe, synthetic_clip, tmp_path / "rotated.mp4", 90)
    width, height = SYNTHETIC_SIZE
    coded = VideoInfo(str(rotated), width, height, 25.0, 0.48)  # the size without the rotation
    with pytest.raises(FrameSizeMismatch, match=r"frame 0 decodes as 180x320, but the video announces 320x180"):
        list(decode_frames(rotated, [0, 1], info=coded))


def test_rotation_ffmpeg_cannot_do_losslessly_is_refused(tmp_path, ffmpeg_exe, synthetic_clip):
    tilted = with_display_rotation(ffmpeg_exe, synthetic_clip, tmp_path / "tilted.mp4", 45)
    with pytest.raises(VideoError, match="turn it by 45 degrees; only multiples of 90"):
        probe(tilted)
