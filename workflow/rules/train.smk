# Stage 4: one model per variant x scale x seed. The device and thread count cannot
# change the result's meaning, so they are not params (params changes rerun a job);
# the script reads the device from the config.


rule train:
    input:
        unpack(h5_sets),
        code=code("train.py"),
        search=search_winner_input,
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
        precision=config["precision"],
        tf32=config["train"]["tf32"],
    script:
        "../scripts/train.py"
