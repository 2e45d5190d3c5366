rule degrade:
    input:
        "{root}frames",
    output:
        directory("{root}degraded/x{scale}"),
    log:
        "{root}logs/degrade/x{scale}.log",
    benchmark:
        "{root}benchmarks/degrade/x{scale}.tsv"
    conda:
        "../../envs/video.yaml"
    threads: config["threads"]["degrade"]
    params:
        frames=extract_params,
    script:
        "../scripts/degrade.py"
