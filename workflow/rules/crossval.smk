# k-fold cross-validation over time (config 'cv:'; srstudy/plan/folds.py): per fold, the
# study's chain on the fold's frames of the split range (extracted and degraded as the
# frame set 'cv' by the rules of video.smk and degrade.smk). Every output lies under
# results/cv/, so the study's own jobs never see these: turning cv on retrains nothing.


use rule pack_h5 as cv_pack_h5 with:
    input:
        train_frames=CV_FRAMES,
        train_degraded=CV_DEGRADED,
        eval_frames=CV_FRAMES,
        eval_degraded=CV_DEGRADED,
        code=code("pack_h5.py"),
    output:
        train=cv_h5("train"),
        eval=cv_h5("eval"),
    log:
        "results/logs/cv/fold{fold}/pack_h5/x{scale}.log",
    benchmark:
        "results/benchmarks/cv/fold{fold}/pack_h5/x{scale}.tsv"
    params:
        train=cv_frames("train"),
        eval=cv_frames("eval"),


# The LR-grid sets, for the post-upsampling architectures, as pack_lr_h5 for the study.
use rule cv_pack_h5 as cv_pack_lr_h5 with:
    output:
        train=cv_h5("train", "lr"),
        eval=cv_h5("eval", "lr"),
    log:
        "results/logs/cv/fold{fold}/pack_lr_h5/x{scale}.log",
    benchmark:
        "results/benchmarks/cv/fold{fold}/pack_lr_h5/x{scale}.tsv"
    params:
        grid="lr",


# A fold model is a variant's model trained on other frames (the fold's sets of its
# architecture's input grid).
use rule train as cv_train with:
    input:
        unpack(cv_h5_sets),
        code=code("train.py"),
        search=search_winner_input,
    output:
        model=CV_MODEL,
        log=CV_TRAINING_LOG,
    log:
        "results/logs/cv/fold{fold}/train/x{scale}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/cv/fold{fold}/train/x{scale}/{variant}/seed{seed}.tsv"


# The fold's test block only, without thesis-code twins (the tables compare models). The
# degraded folder holds both inputs (bicubic/ and lr/); the script reads its arch's grid.
use rule upscale as cv_upscale with:
    input:
        model=CV_MODEL,
        degraded=CV_DEGRADED,
        code=code("upscale.py"),
        search=search_winner_input,
    output:
        frames=directory(CV_UPSCALED_DIR),
        timing=CV_UPSCALED_TIMING,
    log:
        "results/logs/cv/fold{fold}/upscale/x{scale}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/cv/fold{fold}/upscale/x{scale}/{variant}/seed{seed}.tsv"
    params:
        frames=cv_frames("test"),
        thesis_code=False,


rule cv_score:
    input:
        unpack(cv_score_input),
        code=code("cv_score.py"),
    output:
        CV_SCORES,
    log:
        "results/logs/cv/fold{fold}/score/x{scale}/{method}.log",
    benchmark:
        "results/benchmarks/cv/fold{fold}/score/x{scale}/{method}.tsv"
    wildcard_constraints:
        method="|".join(study_methods(config["variants"])),
    conda:
        "../../envs/report.yaml"
    threads: config["threads"]["score"]
    params:
        frames=cv_frames("test"),
        seeds=score_seeds,
        subfolder=score_subfolder,
    script:
        "../scripts/cv_score.py"


rule cv_tables:
    input:
        scores=cv_score_files,
        code=code("cv_tables.py"),
    output:
        folds="results/cv/tables/folds.csv",
        summary="results/cv/tables/summary.csv",
        markdown="results/cv/tables/cv.md",
        html=report(
            "results/cv/tables/cv.html",
            caption="../report/cv.rst",
            category="Cross-validation",
            labels={"table": "across folds: mean, 95% CI, Δ vs the reference"},
        ),
    log:
        "results/logs/cv/tables.log",
    benchmark:
        "results/benchmarks/cv/tables.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        folds=fold_plan.folds_of(config),
        variants=list(config["variants"]),
        baseline=config["baseline_variant"],
        settings=cv_settings(),
    script:
        "../scripts/cv_tables.py"
