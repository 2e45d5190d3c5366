# Stage 4b: one job per model x test set (the model loads once per set; a new test set
# or more frames in one set leave the others alone). The tile size and device give the
# same frames by construction, so they are read from the config, not rerun triggers.


rule upscale:
    input:
        model=model_checkpoint,
        degraded=test_set_degraded,
        code=code("upscale.py"),
        search=search_winner_input,
    output:
        frames=directory(UPSCALED_DIR),
        # ms per frame on this job's device, for the tables' cost columns
        timing=UPSCALED_TIMING,
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
        precision=config["precision"],
        thesis_code=config["upscale"]["thesis_code"],
    script:
        "../scripts/upscale.py"
