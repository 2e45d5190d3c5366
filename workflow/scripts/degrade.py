from srstudy.base.joblog import logged
from srstudy.stages.degrade import degrade_frames

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    degrade_frames(sm.input.frames, sm.params.frames, int(sm.wildcards.scale), sm.output[0], threads=sm.threads)
