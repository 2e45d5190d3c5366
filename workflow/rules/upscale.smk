# One job per variant x scale x seed upscales every test set (the study's and each
# out-of-domain one): the model is loaded once.


rule upscale:
    input:
        model=model_checkpoint,
        degraded=expand("{root}degraded/x{{scale}}", root=roots()),
        code=package_modules("models", "upscale"),
    output:
        [directory(path) for path in expand(UPSCALED_DIR, root=roots(), allow_missing=True)],
    log:
        "results/logs/upscale/x{scale}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/upscale/x{scale}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["upscale"]
    resources:
        gpu=1,
    params:
        frames=[frames_of(root, "test") for root in roots()],
        spec=train_spec,
        device=config["device"],
        tile=config["upscale"]["tile"],
        precision=config["precision"],
        thesis_code=config["upscale"]["thesis_code"],
    script:
        "../scripts/upscale.py"
