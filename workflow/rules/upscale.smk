rule upscale:
    input:
        model=model_checkpoint,
        degraded="{root}degraded/x{scale}",
        code=package_modules("models", "upscale"),
    output:
        directory("{root}upscaled/x{scale}/{variant}/seed{seed}"),
    log:
        "{root}logs/upscale/x{scale}/{variant}/seed{seed}.log",
    benchmark:
        "{root}benchmarks/upscale/x{scale}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["upscale"]
    resources:
        gpu=1,
    params:
        frames=test_frames,
        spec=train_spec,
        device=config["device"],
        tile=config["upscale"]["tile"],
    script:
        "../scripts/upscale.py"
