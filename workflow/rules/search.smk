# Hyperparameter search (config 'search:'): per search and scale, worker jobs take trials
# from one Optuna study in a journal file; the summary writes the winner (best.yaml),
# which trains as the variant named after the search. Input functions: common.smk.


rule search_worker:
    input:
        train="results/h5/x{scale}/train.h5",
        eval="results/h5/x{scale}/eval.h5",
        code=code("search_worker.py"),
    output:
        "results/search/{search}/x{scale}/workers/{worker}.json",
    log:
        "results/logs/search/{search}/x{scale}/worker{worker}.log",
    benchmark:
        "results/benchmarks/search_worker/{search}/x{scale}/worker{worker}.tsv"
    wildcard_constraints:
        search="|".join(config["search"]) or "^$",
        worker=r"\d+",
    conda:
        "../../envs/torch.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1,
    params:
        # beside the outputs (a module prefix included): not rerun triggers, so not outputs
        journal=lambda wildcards, output: search_folder(output[0], "journal.log"),
        scratch=lambda wildcards, output: search_folder(
            output[0], f"scratch/worker{wildcards.worker}"
        ),
        search=lambda wildcards: config["search"][wildcards.search],
        defaults=config["defaults"],
        precision=config["precision"],
        tf32=config["train"]["tf32"],
    script:
        "../scripts/search_worker.py"


rule search_summary:
    input:
        workers=search_workers,
        code=code("search_summary.py"),
    output:
        best="results/search/{search}/x{scale}/best.yaml",
        trials=report(
            "results/search/{search}/x{scale}/trials.csv",
            caption="../report/search_trials.rst",
            category="Search",
            subcategory="{search}",
            labels={"figure": "trials (CSV)", "scale": "x{scale}"},
        ),
        trials_md="results/search/{search}/x{scale}/trials.md",
        history=report(
            "results/search/{search}/x{scale}/history.png",
            caption="../report/search_figures.rst",
            category="Search",
            subcategory="{search}",
            labels={"figure": "optimisation history", "scale": "x{scale}"},
        ),
        importances=report(
            "results/search/{search}/x{scale}/importances.png",
            caption="../report/search_figures.rst",
            category="Search",
            subcategory="{search}",
            labels={"figure": "parameter importances", "scale": "x{scale}"},
        ),
        parallel=report(
            "results/search/{search}/x{scale}/parallel.png",
            caption="../report/search_figures.rst",
            category="Search",
            subcategory="{search}",
            labels={"figure": "parallel coordinates", "scale": "x{scale}"},
        ),
    log:
        "results/logs/search/{search}/x{scale}/summary.log",
    benchmark:
        "results/benchmarks/search_summary/{search}/x{scale}.tsv"
    wildcard_constraints:
        search="|".join(config["search"]) or "^$",
    conda:
        "../../envs/torch.yaml"
    params:
        journal=lambda wildcards, output: search_folder(output.best, "journal.log"),
        search=lambda wildcards: config["search"][wildcards.search],
        defaults=config["defaults"],
        convergence=config["report"]["convergence"],
    script:
        "../scripts/search_summary.py"
