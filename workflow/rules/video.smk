rule extract_frames:
    input:
        video=video_of,
    output:
        directory("{root}frames"),
    log:
        "{root}logs/extract_frames.log",
    conda:
        "../../envs/video.yaml"
    threads: config["threads"]["extract"]
    params:
        frames=extract_params,
        ffmpeg=config["ffmpeg"],
    script:
        "../scripts/extract_frames.py"
