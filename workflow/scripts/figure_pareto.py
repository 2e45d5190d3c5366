from srstudy.base.joblog import logged
from srstudy.report.figures import pareto

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    title = f"Y-PSNR gain over bicubic vs GFLOPs per 4K frame: {sm.params.test_set}"
    pareto(sm.input.scores, training_csv=sm.input.training, variants=sm.params.variants, out=sm.output[0], title=title)
