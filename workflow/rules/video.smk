# Stage 1: the frames of each frame set (the study video's train, eval and test frames,
# each out-of-domain video's test frames), decoded exactly, as lossless PNGs.


rule extract_frames:
    input:
        video=video_of,
        code=code("extract_frames.py"),
    output:
        directory(FRAMES),
    log:
        "{root}logs/extract_frames/{split}.log",
    benchmark:
        "{root}benchmarks/extract_frames/{split}.tsv"
    conda:
        "../../envs/video.yaml"
    threads: config["threads"]["extract"]
    params:
        frames=set_frames,
        ffmpeg=config["ffmpeg"],
    script:
        "../scripts/extract_frames.py"


# A configured video that is missing but has a 'url' is downloaded (checked against its
# size and sha256 when given). On the machine that runs Snakemake, not as a cluster job:
# compute nodes are often offline. Offline, the job fails saying where to put the file.
if DOWNLOADS:

    rule download_video:
        input:
            code=code("download_video.py"),
        output:
            "{video}",
        log:
            "results/logs/download_video/{video}.log",
        benchmark:
            "results/benchmarks/download_video/{video}.tsv"
        wildcard_constraints:
            video=download_pattern(),
        localrule: True
        conda:
            "../../envs/video.yaml"
        params:
            source=download_source,
        script:
            "../scripts/download_video.py"
