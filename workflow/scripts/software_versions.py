import os

from srstudy.about import COMMIT_ENV, write_about
from srstudy.jobs import logged

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_about(sm.output[0], list(sm.input.models), os.environ.get(COMMIT_ENV, "unknown"), sm.params.ffmpeg)
