from srstudy.jobs import logged
from srstudy.video import read_manifest
from srstudy.videos import encode_frames

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    fps = read_manifest(sm.input.manifest)["fps"] / sm.params.step  # test frames are every step-th frame
    encode_frames(sm.input.frames[0], sm.params.frames, sm.output[0], fps, ffmpeg_exe=sm.params.ffmpeg)
