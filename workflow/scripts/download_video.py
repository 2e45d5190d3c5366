from srstudy.base.joblog import logged
from srstudy.stages.video import download

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    download(dest=sm.output[0], **sm.params.source)
