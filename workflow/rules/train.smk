rule train:
    input:
        train="results/h5/x{scale}/train.h5",
        eval="results/h5/x{scale}/eval.h5",
        code=package_modules("models", "train", "upscale"),
    output:
        model=MODEL,
        log=TRAINING_LOG,
    log:
        "results/logs/train/x{scale}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/x{scale}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1,
    params:
        spec=train_spec,
        device=config["device"],
        precision=config["precision"],
        tf32=config["train"]["tf32"],
    script:
        "../scripts/train.py"
