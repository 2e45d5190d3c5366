import os

from srstudy.base.joblog import logged
from srstudy.report.about import COMMIT_ENV, write_about

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_about(sm.output[0], list(sm.input.models), os.environ.get(COMMIT_ENV, "unknown"), sm.params.ffmpeg)
