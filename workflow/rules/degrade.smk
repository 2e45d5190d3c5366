# Stage 2: each frame set degraded per scale: bicubic downscale (lr/) and the bicubic
# upscale back (bicubic/, the baseline and the networks' input).


rule degrade:
    input:
        frames=FRAMES,
        code=code("degrade.py"),
    output:
        directory(DEGRADED),
    log:
        "{root}logs/degrade/{split}/x{scale}.log",
    benchmark:
        "{root}benchmarks/degrade/{split}/x{scale}.tsv"
    conda:
        "../../envs/video.yaml"
    threads: config["threads"]["degrade"]
    params:
        frames=set_frames,
    script:
        "../scripts/degrade.py"
