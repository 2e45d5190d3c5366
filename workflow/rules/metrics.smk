# Stage 5: per-frame scores of one method (a variant, all its seeds, or bicubic) on one
# test set at one scale. Input functions: common.smk.


rule score:
    input:
        unpack(score_input),
        code=code("score.py"),
    output:
        "{root}scores/x{scale}/{method}.csv",
    log:
        "{root}logs/score/x{scale}/{method}.log",
    benchmark:
        "{root}benchmarks/score/x{scale}/{method}.tsv"
    wildcard_constraints:
        method="|".join(study_methods(config["variants"])),
    conda:
        "../../envs/report.yaml"
    threads: config["threads"]["score"]
    params:
        frames=test_frames,
        seeds=score_seeds,
        subfolder=score_subfolder,
        test_set=test_set_name,
    script:
        "../scripts/score.py"
