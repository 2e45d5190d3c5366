# High-resolution SRCNN hyperparameter study, as one DAG:
# frames -> per-scale degradations -> h5 sets -> training -> upscaling -> scores -> tables.
# Every job of the study is declared once (workflow/scripts/srstudy/plan/dag.py); rule all
# and the stage targets (snakemake frames|datasets|search|models|upscaled|scores|videos|
# tables) are generated from it.
from snakemake.utils import min_version

# report() with labels, resources given as --resources=gpu=N, the 9.x CLI.
min_version("9.20")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


VIDEOS = validate_config(config)
DOWNLOADS = missing_downloads()
STUDY_JOBS = dag.study_jobs(config)


include: "workflow/rules/video.smk"
include: "workflow/rules/degrade.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/upscale.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/videos.smk"
include: "workflow/rules/crossval.smk"


# Only in the main process (jobs run with --no-hooks): SLURM's silent requeues, named.
onsuccess:
    report_cluster_faults(log)


onerror:
    report_cluster_faults(log, failed=True)


rule all:
    default_target: True
    input:
        [path for stage in dag.STAGES for path in stage_outputs(stage)],


for stage in dag.STAGES:

    rule:
        name:
            stage
        input:
            stage_outputs(stage),
        localrule: True
