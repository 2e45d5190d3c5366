rule extract_frames:
    input:
        video=video_of,
    output:
        directory("{root}frames"),
    log:
        "{root}logs/extract_frames.log",
    benchmark:
        "{root}benchmarks/extract_frames.tsv"
    conda:
        "../../envs/video.yaml"
    threads: config["threads"]["extract"]
    params:
        frames=extract_params,
        ffmpeg=config["ffmpeg"],
    script:
        "../scripts/extract_frames.py"


# A configured video that is missing but has a 'url' is downloaded (checked against its
# size and sha256 when given). On the machine that runs Snakemake, not as a cluster job:
# compute nodes are often offline. Offline, the job fails saying where to put the file.
import re

VIDEO_SPECS = {"video": config["video"]} | {
    f"ood_tests.{name}.video": test["video"] for name, test in config["ood_tests"].items()
}
DOWNLOADS = {
    str(VIDEOS[key]): spec
    for key, spec in VIDEO_SPECS.items()
    if key in VIDEOS and spec["url"] and not VIDEOS[key].exists()
}


if DOWNLOADS:

    rule download_video:
        output:
            "{video}",
        log:
            "results/logs/download_video/{video}.log",
        wildcard_constraints:
            video="|".join(re.escape(path) for path in DOWNLOADS),
        localrule: True
        conda:
            "../../envs/video.yaml"
        params:
            url=lambda wildcards: DOWNLOADS[wildcards.video]["url"],
            size=lambda wildcards: DOWNLOADS[wildcards.video]["size"],
            sha256=lambda wildcards: DOWNLOADS[wildcards.video]["sha256"],
        script:
            "../scripts/download_video.py"
