# Stage 4: one model per variant x scale x seed. The device and thread count cannot
# change the result's meaning, so they are not params (params changes rerun a job);
# the script reads the device from the config. Models of group jobs (train.group, below)
# go to train_group (ruleorder); cross-validation's fold models derive from this rule.


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


# Several models per job (train.group: scales = a variant x seed's scales, variants = a
# seed's variants x scales), trained fused where their shapes allow (train.fuse, read by
# the script: an execution setting). Each model is the same file rule train writes.
if dag.train_groups(config):

    ruleorder: train_group > train

    rule train_group:
        input:
            unpack(group_inputs),
            code=code("train_group.py"),
        output:
            models=group_outputs(MODEL),
            logs=group_outputs(TRAINING_LOG),
        log:
            group_log(),
        benchmark:
            group_benchmark()
        wildcard_constraints:
            variant=grouped_variants_pattern(),
        conda:
            "../../envs/torch.yaml"
        threads: config["threads"]["train"]
        resources:
            gpu=1,
        params:
            members=group_members,
            precision=config["precision"],
            tf32=config["train"]["tf32"],
        script:
            "../scripts/train_group.py"
