from srstudy.base.joblog import logged
from srstudy.stages.video import extract_frames

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    extract_frames(sm.input.video, sm.params.frames, sm.output[0], ffmpeg_exe=sm.params.ffmpeg, threads=sm.threads)
