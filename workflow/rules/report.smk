# Stage 6: tables and figures. Every result here is marked for the Snakemake report:
#   snakemake --report results/report.html
# Input functions: common.smk; the jobs of rule all: srstudy/plan/dag.py.


rule run_summary:
    input:
        models=model_files(MODEL),
        logs=model_files(TRAINING_LOG),
        train=expand("results/h5/x{scale}/train.h5", scale=config["scales"]),
        eval=expand("results/h5/x{scale}/eval.h5", scale=config["scales"]),
        code=code("run_summary.py"),
    output:
        csv="results/tables/training.csv",
        markdown="results/tables/run.md",
        html=report(
            "results/tables/run.html",
            caption="../report/run.rst",
            category="Run",
            labels={"table": "what this run was: data, budget, convergence"},
        ),
    log:
        "results/logs/tables/run.log",
    benchmark:
        "results/benchmarks/run_summary.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        scales=config["scales"],
    script:
        "../scripts/run_summary.py"


rule summary_tables:
    input:
        scores=scores_of_root,
        code=code("summary_tables.py"),
    output:
        summary=report(
            "{root}tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            subcategory=test_set_title,
            labels={"table": "summary per seed (CSV)", "scale": "all"},
        ),
        seeds=report(
            "{root}tables/summary_seeds.csv",
            caption="../report/summary_seeds.rst",
            category="Tables",
            subcategory=test_set_title,
            labels={"table": "summary across seeds (CSV)", "scale": "all"},
        ),
        comparisons=report(
            "{root}tables/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Tables",
            subcategory=test_set_title,
            labels={"table": "comparisons, long form (CSV)", "scale": "all"},
        ),
    log:
        "{root}logs/tables/summary.log",
    benchmark:
        "{root}benchmarks/summary_tables.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        variants=list(config["variants"]),
        baseline=config["baseline_variant"],
        comparisons=config["report"]["comparisons"],
        statistics=config["report"]["statistics"],
        test_set=test_set_title,
    script:
        "../scripts/summary_tables.py"


rule comparison_tables:
    input:
        comparisons="{root}tables/comparisons.csv",
        seeds="{root}tables/summary_seeds.csv",
        training="results/tables/training.csv",
        timings=timings_of_root_and_scale,
        code=code("comparison_tables.py"),
    output:
        markdown=report(
            "{root}tables/x{scale}.md",
            caption="../report/comparison_tables.rst",
            category="Tables",
            subcategory=test_set_title,
            labels={"table": "comparison tables (Markdown)", "scale": "x{scale}"},
        ),
        html=report(
            "{root}tables/x{scale}.html",
            caption="../report/comparison_tables.rst",
            category="Tables",
            subcategory=test_set_title,
            labels={"table": "comparison tables", "scale": "x{scale}"},
        ),
    log:
        "{root}logs/tables/x{scale}.log",
    benchmark:
        "{root}benchmarks/comparison_tables/x{scale}.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        variants=list(config["variants"]),
        baseline=config["baseline_variant"],
        comparisons=config["report"]["comparisons"],
        statistics=config["report"]["statistics"],
        thesis=thesis_columns_of_root,
        test_set=test_set_title,
    script:
        "../scripts/comparison_tables.py"


rule psnr_vs_scale:
    input:
        scores=scores_of_root,
        code=code("figure_psnr_vs_scale.py"),
    output:
        report(
            "{root}figures/psnr_vs_scale.png",
            caption="../report/psnr_vs_scale.rst",
            category="PSNR vs scale",
            labels=test_set_labels,
        ),
    log:
        "{root}logs/figures/psnr_vs_scale.log",
    benchmark:
        "{root}benchmarks/psnr_vs_scale.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        variants=list(config["variants"]),
        test_set=test_set_title,
    script:
        "../scripts/figure_psnr_vs_scale.py"


rule pareto_figure:
    input:
        scores=scores_of_root,
        training="results/tables/training.csv",
        code=code("figure_pareto.py"),
    output:
        report(
            "{root}figures/pareto.png",
            caption="../report/pareto.rst",
            category="PSNR vs cost",
            labels=test_set_labels,
        ),
    log:
        "{root}logs/figures/pareto.log",
    benchmark:
        "{root}benchmarks/pareto_figure.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        variants=list(config["variants"]),
        test_set=test_set_title,
    script:
        "../scripts/figure_pareto.py"


rule crop_figure:
    input:
        unpack(figure_frames),
        code=code("figure_crop.py"),
    output:
        report(
            "results/figures/crops/{crop}_x{scale}.png",
            caption="../report/crops.rst",
            category="Crops",
            subcategory="{crop}",
            labels={"crop": "{crop}", "scale": "x{scale}"},
        ),
    log:
        "results/logs/figures/crops/{crop}_x{scale}.log",
    benchmark:
        "results/benchmarks/crop_figure/x{scale}/{crop}.tsv"
    wildcard_constraints:
        crop="|".join(c["name"] for c in config["report"]["crops"]),
    conda:
        "../../envs/report.yaml"
    params:
        crop=crop_spec,
        variants=list(config["variants"]),
    script:
        "../scripts/figure_crop.py"


rule psnr_map_figure:
    input:
        unpack(psnr_map_frames),
        code=code("figure_psnr_map.py"),
    output:
        report(
            "results/figures/psnr_map_x{scale}.png",
            caption="../report/psnr_map.rst",
            category="PSNR map",
            labels={"scale": "x{scale}"},
        ),
    log:
        "results/logs/figures/psnr_map_x{scale}.log",
    benchmark:
        "results/benchmarks/psnr_map_figure/x{scale}.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        frame=psnr_map_frame,
        cell=config["report"]["psnr_map"]["cell"],
        label=config["baseline_variant"],
    script:
        "../scripts/figure_psnr_map.py"


rule training_figure:
    input:
        logs=training_logs,
        eval="results/h5/x{scale}/eval.h5",
        code=code("figure_training.py"),
    output:
        report(
            "results/figures/training_x{scale}.png",
            caption="../report/training.rst",
            category="Training",
            labels={"scale": "x{scale}"},
        ),
    log:
        "results/logs/figures/training_x{scale}.log",
    benchmark:
        "results/benchmarks/training_figure/x{scale}.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        runs=training_runs,
        variants=list(config["variants"]),
    script:
        "../scripts/figure_training.py"


rule cost_table:
    input:
        benchmarks=benchmark_files,
        code=code("cost_table.py"),
    output:
        csv="results/tables/costs.csv",
        markdown="results/tables/costs.md",
        html=report(
            "results/tables/costs.html",
            caption="../report/costs.rst",
            category="Costs",
            labels={"table": "wall time and peak memory per job"},
        ),
    log:
        "results/logs/tables/costs.log",
    benchmark:
        "results/benchmarks/cost_table.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        jobs=benchmark_jobs(),
    script:
        "../scripts/cost_table.py"


rule software_versions:
    input:
        models=study_models(),
        code=code("software_versions.py"),
    output:
        report("results/about/software.html", caption="../report/about.rst", category="About"),
    log:
        "results/logs/software_versions.log",
    benchmark:
        "results/benchmarks/software_versions.tsv"
    conda:
        "../../envs/torch.yaml"
    params:
        ffmpeg=config["ffmpeg"],
    script:
        "../scripts/software_versions.py"
