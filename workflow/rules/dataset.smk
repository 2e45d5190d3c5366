# Stage 3: h5 train and eval sets per scale, from the train and eval frames only (test
# frames can change without touching a model).


rule pack_h5:
    input:
        **training_set("train"),
        **training_set("eval"),
        code=code("pack_h5.py"),
    output:
        train="results/h5/x{scale}/train.h5",
        eval="results/h5/x{scale}/eval.h5",
    log:
        "results/logs/pack_h5/x{scale}.log",
    benchmark:
        "results/benchmarks/pack_h5/x{scale}.tsv"
    conda:
        "../../envs/video.yaml"
    params:
        train=frames_of(RESULTS, "train"),
        eval=frames_of(RESULTS, "eval"),
        grid="hr",
    script:
        "../scripts/pack_h5.py"


# The same sets with the LR frames as inputs, for the post-upsampling architectures
# (srstudy/nets/registry.py); made only when a variant needs them.
use rule pack_h5 as pack_lr_h5 with:
    output:
        train=H5_SETS["lr"].format(scale="{scale}", split="train"),
        eval=H5_SETS["lr"].format(scale="{scale}", split="eval"),
    log:
        "results/logs/pack_lr_h5/x{scale}.log",
    benchmark:
        "results/benchmarks/pack_lr_h5/x{scale}.tsv"
    params:
        grid="lr",
