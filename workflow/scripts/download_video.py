from srstudy.jobs import logged
from srstudy.video import download

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    download(sm.params.url, sm.output[0], size=sm.params.size, sha256=sm.params.sha256)
