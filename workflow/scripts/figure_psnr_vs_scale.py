from srstudy.base.joblog import logged
from srstudy.report.figures import psnr_vs_scale

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    psnr_vs_scale(sm.input.scores, sm.params.variants, out=sm.output[0], title=f"PSNR vs scale: {sm.params.test_set}")
