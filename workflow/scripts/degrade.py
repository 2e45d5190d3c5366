from srstudy.degrade import degrade_frames

sm = snakemake  # noqa: F821 (injected by Snakemake)
degrade_frames(sm.input[0], sm.params.frames, int(sm.wildcards.scale), sm.output[0], threads=sm.threads)
