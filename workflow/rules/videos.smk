# Videos of the study video's upscaled test frames, for the variants under 'videos:'
# (their first seed): each model's frames losslessly, and a labelled comparison
# (bicubic | model | ground truth) that the report plays. Paths: common.smk; the jobs
# (stage 'videos'): srstudy/plan/dag.py.
rule upscaled_video:
    input:
        frames=expand(UPSCALED_DIR, root=RESULTS, allow_missing=True),
        manifest=FRAMES.format(root=RESULTS, split="test"),
        code=code("upscaled_video.py"),
    output:
        VIDEO,
    log:
        "results/logs/videos/x{scale}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/upscaled_video/x{scale}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/video.yaml"
    params:
        frames=frames_of(RESULTS, "test"),
        step=config["frames"]["test"]["step"],
        ffmpeg=config["ffmpeg"],
    script:
        "../scripts/upscaled_video.py"


rule comparison_video:
    input:
        upscaled=expand(UPSCALED_DIR, root=RESULTS, allow_missing=True),
        degraded=DEGRADED.format(root=RESULTS, split="test", scale="{scale}"),
        frames=FRAMES.format(root=RESULTS, split="test"),
        code=code("comparison_video.py"),
    output:
        video=COMPARISON_VIDEO,
        page=report(
            COMPARISON_PAGE,
            caption="../report/videos.rst",
            category="Videos",
            labels={"variant": "{variant}", "scale": "x{scale}", "seed": "{seed}"},
        ),
    log:
        "results/logs/videos/x{scale}/{variant}/seed{seed}_comparison.log",
    benchmark:
        "results/benchmarks/comparison_video/x{scale}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/video.yaml"
    params:
        frames=frames_of(RESULTS, "test"),
        step=config["frames"]["test"]["step"],
        ffmpeg=config["ffmpeg"],
    script:
        "../scripts/comparison_video.py"
