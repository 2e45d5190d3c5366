rule pack_h5:
    input:
        frames="results/frames",
        degraded="results/degraded/x{scale}",
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
    script:
        "../scripts/pack_h5.py"
