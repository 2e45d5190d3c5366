# High-resolution SRCNN hyperparameter study, as one DAG:
# frames -> per-scale degradations -> h5 sets -> training -> upscaling -> scores -> tables.


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


VIDEOS = validate_config(config)


include: "workflow/rules/video.smk"
include: "workflow/rules/degrade.smk"
include: "workflow/rules/dataset.smk"


rule all:
    input:
        expand("results/h5/x{scale}/{split}.h5", scale=config["scales"], split=["train", "eval"]),
        expand("{root}degraded/x{scale}", root=roots(), scale=config["scales"]),
