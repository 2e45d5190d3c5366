# High-resolution SRCNN hyperparameter study, as one DAG:
# frames -> per-scale degradations -> h5 sets -> training -> upscaling -> scores -> tables.
from snakemake.utils import min_version

# report() with labels, resources given as --resources=gpu=N, the 9.x CLI.
min_version("9.20")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


VIDEOS = validate_config(config)
DOWNLOADS = missing_downloads()


include: "workflow/rules/video.smk"
include: "workflow/rules/degrade.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/upscale.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/videos.smk"


rule all:
    input:
        expand("results/h5/x{scale}/{split}.h5", scale=config["scales"], split=["train", "eval"]),
        expand("{root}degraded/x{scale}", root=roots(), scale=config["scales"]),
        per_model(TRAINING_LOG, [RESULTS]),
        per_model(UPSCALED_DIR),
        report_targets(),
        "results/tables/costs.html",
        video_targets(),
        "results/about/software.html",
