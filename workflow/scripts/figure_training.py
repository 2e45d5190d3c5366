from srstudy.base.joblog import logged
from srstudy.report.figures import training_curves
from srstudy.stages.dataset import bicubic_eval_psnr

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    logs = {(variant, seed): path for (variant, seed), path in zip(sm.params.runs, sm.input.logs, strict=True)}
    training_curves(
        logs,
        scale=int(sm.wildcards.scale),
        out=sm.output[0],
        variants=sm.params.variants,
        bicubic=bicubic_eval_psnr(sm.input.eval),
    )
