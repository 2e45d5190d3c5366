# Stage 5: per-frame scores of each upscaled test set, and of bicubic, per scale.
# Input functions: common.smk.


rule score:
    input:
        unpack(score_input),
    output:
        "{root}scores/x{scale}/{variant}.csv",
    log:
        "{root}logs/score/x{scale}/{variant}.log",
    benchmark:
        "{root}benchmarks/score/x{scale}/{variant}.tsv"
    wildcard_constraints:
        variant="|".join([BICUBIC, *config["variants"]]),
    conda:
        "../../envs/report.yaml"
    threads: config["threads"]["score"]
    params:
        frames=test_frames,
        seeds=score_seeds,
        subfolder=score_subfolder,
        thesis_code=scores_thesis_code,
    script:
        "../scripts/score.py"
