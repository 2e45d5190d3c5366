from srstudy.base.joblog import logged
from srstudy.stages.encode import encode_frames
from srstudy.stages.video import read_manifest

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    fps = read_manifest(sm.input.manifest)["fps"] / sm.params.step  # test frames are every step-th frame
    encode_frames(sm.input.frames[0], sm.params.frames, sm.output[0], fps, ffmpeg_exe=sm.params.ffmpeg)
