# Shared by every stage: the package on the path, config validation, wildcard
# constraints and the input functions that map wildcards to config. What the study
# makes (every job, as wildcards) is declared once, in srstudy/plan/dag.py.
import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

# This workflow's own folder (the Snakefile's), from this file's place in it: as a module
# (`module ...: snakefile:`) workflow.basedir is the importing workflow's folder.
WORKFLOW_ROOT = Path(workflow.current_basedir).parents[1]
# The package lives beside the rules' scripts: this checkout's copy is imported here and
# by every job (local, cluster, conda envs), also where another copy is installed.
SCRIPTS = WORKFLOW_ROOT / "workflow/scripts"
sys.path.insert(0, str(SCRIPTS))

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from srstudy.base.joblog import short_errors
from srstudy.base.methods import BICUBIC, study_methods
from srstudy.nets import registry
from srstudy.plan import config as study_config
from srstudy.plan import dag
from srstudy.plan import folds as fold_plan
from srstudy.plan import preflight, variants
from srstudy.plan.codedeps import code_inputs, run_jobs_with_package
from srstudy.report import about as study_about
from srstudy.report import cluster as study_cluster
from srstudy.report.published import thesis_columns

run_jobs_with_package(SCRIPTS)

RESULTS = dag.RESULTS
# The workflow's commit, for the report's About page. Passed to jobs through the
# environment, not as a param: a new commit alone must not rerun anything.
os.environ[study_about.COMMIT_ENV] = study_about.git_commit(WORKFLOW_ROOT)


wildcard_constraints:
    root="results/(ood/[A-Za-z0-9_-]+/)?",
    split="train|eval|test|cv",
    fold=r"\d+",
    variant="[A-Za-z0-9_-]+",
    scale=r"\d+",
    seed=r"\d+",


def report_cluster_faults(log, failed=False):
    """At the end of a run (onsuccess/onerror): the jobs SLURM requeued after a lost node
    or a preemption, which Snakemake's polls miss (srstudy/report/cluster.py)."""
    for line in study_cluster.fault_report(log, failed=failed):
        logger.warning(line)


# Written when a run has built the whole study (rule all), in the Snakemake process that
# ran it, so a full run ends with its report whatever started it (run.sh, a cluster
# login node, a plain `snakemake`); `snakemake --report` rewrites it any time.
REPORT = "results/report.html"


def write_report_after_full_run():
    """The report of a successful run whose target was the whole study; after a run of
    stage targets, --until or --touch the report stays as it was (it would be partial)."""
    dag_of_run = workflow.dag
    if workflow.touch or {job.rule.name for job in dag_of_run.targetjobs} != {"all"}:
        return
    from snakemake.report import auto_report
    from snakemake.report.html_reporter import ReportSettings
    from snakemake.settings.types import GlobalReportSettings
    from snakemake_interface_report_plugins.registry import ReportPluginRegistry

    plugin = ReportPluginRegistry().get_plugin("html")
    try:
        workflow.async_run(
            auto_report(
                dag_of_run, plugin, ReportSettings(path=Path(REPORT)), GlobalReportSettings()
            )
        )
    except WorkflowError as error:  # an output marked for the report is missing (--until ...)
        logger.warning(
            f"report not written ({error}); `snakemake --report {REPORT}` writes it once all is done"
        )
        return
    logger.info(f"study done: results/tables/, results/figures/ and the report {REPORT}")


def validate_config(config):
    """Schema (with defaults), sweeps expanded into variants, then the checks a schema
    cannot express. A problem stops Snakemake before any job with the message alone
    (SRSTUDY_DEBUG=1: with a traceback)."""
    with short_errors():
        schema = WORKFLOW_ROOT / "workflow/schemas/config.schema.yaml"
        study_config.validate_schema(config, schema)
        variants.expand_sweeps(config, schema)
        variants.add_search_variants(config)
        preflight.check_semantics(config)
        videos = preflight.check_videos(config)
        fold_plan.validate(config, videos.get("video"))
        return videos


def code(script):
    """The package files a rule's script imports (relative paths: a copied project,
    results included, stays up to date): changing one reruns exactly those jobs."""
    return code_inputs(SCRIPTS / script, SCRIPTS)


def video_of(wildcards):
    name = dag.test_set_name(wildcards.root)
    return str(VIDEOS["video" if wildcards.root == RESULTS else f"ood_tests.{name}.video"])


def frames_of(root, split):
    return dag.frames_of(config, root, split)


def set_frames(wildcards):
    """Frame numbers of the frame set of a job."""
    return frames_of(wildcards.root, wildcards.split)


def test_frames(wildcards):
    return frames_of(wildcards.root, "test")


def variant_seeds(variant):
    return variants.variant_spec(config, variant)["seeds"]


# One frame set's frames and their degradations; one model (scale x variant x seed)
# and its upscaled frames per test set.
FRAMES = "{root}frames/{split}"
DEGRADED = "{root}degraded/{split}/x{scale}"
MODEL = "results/models/x{scale}/{variant}/seed{seed}/model.pt"
TRAINING_LOG = "results/models/x{scale}/{variant}/seed{seed}/log.csv"
UPSCALED_DIR = "{root}upscaled/x{scale}/{variant}/seed{seed}"
UPSCALED_TIMING = "{root}upscaled/x{scale}/{variant}/seed{seed}.json"


def training_set(split):
    """Frames and degraded folder of the study video's train or eval set, per scale."""
    return {
        f"{split}_frames": FRAMES.format(root=RESULTS, split=split),
        f"{split}_degraded": DEGRADED.format(root=RESULTS, split=split, scale="{scale}"),
    }


def test_set_degraded(wildcards):
    return DEGRADED.format(root=wildcards.root, split="test", scale=wildcards.scale)


def train_spec(wildcards):
    """A variant's model and training settings (its seed list excluded: adding a seed
    must not retrain the existing ones). A search's winner names its best.yaml instead
    (the job reads it; the file is an input, so a new winner retrains)."""
    # Other architectures' blocks left out: their defaults cannot rerun this variant.
    spec = registry.own_settings(variants.variant_spec(config, wildcards.variant))
    if wildcards.variant in config["search"]:
        spec = {**spec, "search_best": search_best(wildcards.variant, wildcards.scale)}
    # Canonical key order: Snakemake compares params as text, and writing a variant's
    # keys in another order must not retrain it.
    return json.loads(json.dumps({k: v for k, v in spec.items() if k != "seeds"}, sort_keys=True))


# The h5 sets per input grid of the architectures (srstudy/nets/registry.py).
H5_SETS = {"hr": "results/h5/x{scale}/{split}.h5", "lr": "results/h5/x{scale}/lr/{split}.h5"}


def h5_sets(wildcards):
    """The train and eval sets a model trains on: those of its architecture's input grid."""
    spec = variants.variant_spec(config, wildcards.variant)
    pattern = H5_SETS[registry.arch_of(spec).grid]
    return {
        split: pattern.format(scale=wildcards.scale, split=split) for split in ("train", "eval")
    }


# --- group jobs (train.group, srstudy/dag.py): several models per train job, fused -------


def group_outputs(pattern):
    """A group job's output patterns: ``pattern`` (MODEL, TRAINING_LOG) for each member,
    its group wildcards left as wildcards."""
    placeholders = {"variant": "{variant}", "seed": "{seed}"}
    if config["train"]["group"] == "variants":
        placeholders.pop("variant")
    return [pattern.format(**m) for m in dag.group_members(config, placeholders)]


def group_log():
    """A group job's own log: one per variant and seed, or per seed (as its benchmark)."""
    benchmark = dag.GROUP_BENCHMARKS[config["train"]["group"]]
    return benchmark.replace("results/benchmarks/", "results/logs/").replace(".tsv", ".log")


def group_benchmark():
    return dag.GROUP_BENCHMARKS[config["train"]["group"]]


def group_members(wildcards):
    """The models of a group job: scale, variant, seed and the settings each trains with."""
    return [
        {**member, "spec": train_spec(SimpleNamespace(**member))}
        for member in dag.group_members(config, dict(wildcards))
    ]


def group_inputs(wildcards):
    """Each member's train and eval sets (train_0, eval_0, ...) and search winner."""
    inputs = {}
    for index, member in enumerate(dag.group_members(config, dict(wildcards))):
        sets = h5_sets(SimpleNamespace(**member))
        inputs[f"train_{index}"], inputs[f"eval_{index}"] = sets["train"], sets["eval"]
        inputs[f"search_{index}"] = search_winner_input(SimpleNamespace(**member))
    return inputs


def grouped_variants_pattern():
    return "|".join(re.escape(v) for v in dag.grouped_variants(config)) or "(?!)"


def study_models(wildcards=None):
    """Every trained model's checkpoint."""
    return [MODEL.format(**model) for model in dag.models(config)]


def model_checkpoint(wildcards):
    return MODEL.format(**wildcards)


# --- scores, tables and figures (metrics.smk, report.smk) -----------------------------


def score_input(wildcards):
    """The HR test frames, and what is scored: a variant's upscaled folders (one per
    seed), or the degraded folder whose bicubic/ subfolder is the baseline."""
    degraded = test_set_degraded(wildcards)
    if wildcards.method == BICUBIC:
        scored = [degraded]
    else:
        scored = expand(
            UPSCALED_DIR,
            root=wildcards.root,
            scale=wildcards.scale,
            variant=wildcards.method,
            seed=variant_seeds(wildcards.method),
        )
    return {"hr": FRAMES.format(root=wildcards.root, split="test"), "scored": scored}


def score_seeds(wildcards):
    """The seed of each scored folder, in input order (none for bicubic)."""
    return [None] if wildcards.method == BICUBIC else variant_seeds(wildcards.method)


def score_subfolder(wildcards):
    """Where the frames lie inside each scored folder."""
    return BICUBIC if wildcards.method == BICUBIC else ""


def test_set_name(wildcards):
    return dag.test_set_name(wildcards.root)


def scores_thesis_code(wildcards):
    """Whether the frames scored have thesis-code twins (upscale.thesis_code; not bicubic)."""
    return config["upscale"]["thesis_code"] and wildcards.method != BICUBIC


def scores_of_root(wildcards):
    """Score files of one test set: every scale and method."""
    return expand(
        "{root}scores/x{scale}/{method}.csv",
        root=wildcards.root,
        scale=config["scales"],
        method=study_methods(config["variants"]),
    )


def timings_of_root_and_scale(wildcards):
    """The upscale jobs' timings of one test set and scale: every model (tables' costs)."""
    return [
        UPSCALED_TIMING.format(root=wildcards.root, scale=wildcards.scale, variant=v, seed=s)
        for v in config["variants"]
        for s in variant_seeds(v)
    ]


def test_set_title(wildcards):
    name = dag.test_set_name(wildcards.root)
    return "study test set" if wildcards.root == RESULTS else f"out-of-domain test set '{name}'"


def thesis_columns_of_root(wildcards):
    """The variants shown beside the thesis's published numbers: on the study's test set
    only (the thesis's numbers are of its test frames)."""
    return thesis_columns(config) if wildcards.root == RESULTS else {}


def test_set_labels(wildcards):
    return {"test set": test_set_title(wildcards)}


def first_seed_dir(variant, scale):
    """The upscaled test frames shown in figures: the variant's first seed."""
    return UPSCALED_DIR.format(
        root=RESULTS, scale=scale, variant=variant, seed=variant_seeds(variant)[0]
    )


def study_test_frames_and_bicubic(wildcards):
    return {
        "hr": FRAMES.format(root=RESULTS, split="test"),
        "degraded": DEGRADED.format(root=RESULTS, split="test", scale=wildcards.scale),
    }


def figure_frames(wildcards):
    """HR test frames, the degraded folder (bicubic) and each variant's first-seed frames."""
    return study_test_frames_and_bicubic(wildcards) | {
        "variants": [first_seed_dir(v, wildcards.scale) for v in config["variants"]],
    }


def crop_spec(wildcards):
    return next(c for c in config["report"]["crops"] if c["name"] == wildcards.crop)


def psnr_map_frames(wildcards):
    """HR test frames, bicubic and the baseline variant's first-seed frames."""
    return study_test_frames_and_bicubic(wildcards) | {
        "model": first_seed_dir(config["baseline_variant"], wildcards.scale),
    }


def psnr_map_frame(wildcards):
    frame = config["report"]["psnr_map"]["frame"]
    return frame if frame is not None else frames_of(RESULTS, "test")[0]


def training_runs(wildcards):
    """(variant, seed) of every model, in the order of training_logs."""
    return [[v, s] for v in config["variants"] for s in variant_seeds(v)]


def model_files(pattern):
    """``pattern`` (MODEL, TRAINING_LOG) for every trained model of the study."""
    return [pattern.format(**model) for model in dag.models(config)]


def training_logs(wildcards):
    return [
        TRAINING_LOG.format(scale=wildcards.scale, variant=variant, seed=seed)
        for variant, seed in training_runs(wildcards)
    ]


# --- the study's jobs (srstudy/plan/dag.py): rule all, stage targets, cost table ------------


def job_outputs(rule_name):
    """The target of every job of a rule in the study (dag.TARGETS, one output per job)."""
    return [dag.job_target(rule_name, w, config) for w in STUDY_JOBS[rule_name]]


def stage_outputs(stage):
    """What ``snakemake <stage>`` builds: the targets of the stage's rules' jobs."""
    return [path for rule_name in dag.STAGES[stage] for path in job_outputs(rule_name)]


def measured_jobs():
    """Every job that writes a benchmark file, as ``(rule, wildcards)`` (the cost
    table's input order); the cost table itself is not one of them."""
    return [(r, w) for r in dag.JOB_RULES if r != "cost_table" for w in STUDY_JOBS[r]]


def benchmark_files(wildcards):
    """The ``benchmark:`` file of every job of the study (the cost table's input)."""
    return [dag.job_benchmark(r, w, config) for r, w in measured_jobs()]


def check_declared_paths():
    """Stop when a rule's output or benchmark path no longer matches dag.TARGETS or
    dag.BENCHMARKS (rule all, the stage targets and the cost table are built from those).
    Rules without jobs in this config are left out: some are defined only with jobs."""
    paths = {
        name: (
            [str(path) for path in getattr(rules, name).output],
            str(getattr(rules, name).benchmark),
        )
        for name in dag.JOB_RULES
        if STUDY_JOBS[name]
    }
    problems = dag.declared_path_problems(paths, config)
    if problems:
        raise WorkflowError("the rules and srstudy/plan/dag.py disagree:\n" + "\n".join(problems))


def benchmark_jobs():
    """Rule, test set, scale, method, seed of each benchmark file, in input order; a
    group job's also its models' (the cost table gives each model its share)."""
    return [
        dag.job_labels(r, w)
        | (
            {"members": [dag.job_labels("train", m) for m in dag.group_members(config, w)]}
            if r == "train_group"
            else {}
        )
        for r, w in measured_jobs()
    ]


def missing_downloads():
    """``{path: video spec}`` of configured videos that are missing but have a url."""
    specs = {"video": config["video"]} | {
        f"ood_tests.{name}.video": test["video"] for name, test in config["ood_tests"].items()
    }
    return {
        str(VIDEOS[key]): spec
        for key, spec in specs.items()
        if key in VIDEOS and spec["url"] and not VIDEOS[key].exists()
    }


def download_source(wildcards):
    """Url, size and sha256 of a video to download."""
    spec = DOWNLOADS[wildcards.video]
    return {key: spec[key] for key in ("url", "size", "sha256")}


def download_pattern():
    """Wildcard constraint matching exactly the videos to download."""
    return "|".join(re.escape(path) for path in DOWNLOADS)


# --- hyperparameter search (search.smk) --------------------------------------------------
SEARCH_FILE = "results/search/{search}/x{scale}/{file}"


def search_best(name, scale):
    """The best.yaml a search's winner takes its settings from at ``scale``: the
    nearest searched scale's."""
    scale = variants.nearest_scale(int(scale), dag.searched_scales(config, name))
    return SEARCH_FILE.format(search=name, scale=scale, file="best.yaml")


def search_folder(output, name):
    """``name`` in the folder of a search at one scale, found from a job's output in it
    (workers/{worker}.json or best.yaml), so that a module prefix carries over."""
    folder = Path(output).parent
    return str((folder.parent if folder.name == "workers" else folder) / name)


def search_winner_input(wildcards):
    """A search winner's best.yaml (nothing for a configured variant)."""
    if wildcards.variant in config["search"]:
        return [search_best(wildcards.variant, wildcards.scale)]
    return []


def search_workers(wildcards):
    workers = config["search"][wildcards.search]["workers"]
    files = [f"workers/{worker}.json" for worker in range(workers)]
    return expand(SEARCH_FILE, **wildcards, file=files)


# --- videos (videos.smk): the study test set's upscaled frames of the variants under
# 'videos:' (their first seed), jobs declared in srstudy/plan/dag.py -----------------------
VIDEO = "results/videos/x{scale}/{variant}/seed{seed}.mkv"
COMPARISON_VIDEO = "results/videos/x{scale}/{variant}/seed{seed}_comparison.mp4"
COMPARISON_PAGE = "results/videos/x{scale}/{variant}/seed{seed}_comparison.html"


# --- cross-validation (crossval.smk): per fold, the study's chain on the fold's frames of
# the split range (results/frames/cv), jobs declared in srstudy/plan/dag.py ------------------
CV_FRAMES = FRAMES.format(root=RESULTS, split=dag.CV_SPLIT)
CV_DEGRADED = DEGRADED.format(root=RESULTS, split=dag.CV_SPLIT, scale="{scale}")
CV_MODEL = "results/cv/fold{fold}/models/x{scale}/{variant}/seed{seed}/model.pt"
CV_TRAINING_LOG = "results/cv/fold{fold}/models/x{scale}/{variant}/seed{seed}/log.csv"
CV_UPSCALED_DIR = "results/cv/fold{fold}/upscaled/x{scale}/{variant}/seed{seed}"
CV_UPSCALED_TIMING = "results/cv/fold{fold}/upscaled/x{scale}/{variant}/seed{seed}.json"
CV_SCORES = "results/cv/fold{fold}/scores/x{scale}/{method}.csv"


# A fold's h5 sets per input grid, as H5_SETS for the study.
CV_H5_SETS = {
    "hr": "results/cv/fold{fold}/h5/x{scale}/{split}.h5",
    "lr": "results/cv/fold{fold}/h5/x{scale}/lr/{split}.h5",
}


def cv_h5(split, grid="hr"):
    return CV_H5_SETS[grid].format(fold="{fold}", scale="{scale}", split=split)


def cv_h5_sets(wildcards):
    """The fold's train and eval sets a fold model trains on: those of its
    architecture's input grid (as h5_sets for the study's models)."""
    spec = variants.variant_spec(config, wildcards.variant)
    pattern = CV_H5_SETS[registry.arch_of(spec).grid]
    return {
        split: pattern.format(fold=wildcards.fold, scale=wildcards.scale, split=split)
        for split in ("train", "eval")
    }


def cv_frames(split):
    """An input function: the frame numbers of the job's fold's train, eval or test set."""

    def frames(wildcards):
        return fold_plan.fold_frames(config, wildcards.fold, split)

    return frames


def cv_score_input(wildcards):
    """The HR split range, and what is scored: the fold models' upscaled test blocks (one
    folder per seed) or the split range's degraded folder (bicubic)."""
    degraded = CV_DEGRADED.format(scale=wildcards.scale)
    if wildcards.method == BICUBIC:
        scored = [degraded]
    else:
        scored = expand(
            CV_UPSCALED_DIR,
            fold=wildcards.fold,
            scale=wildcards.scale,
            variant=wildcards.method,
            seed=variant_seeds(wildcards.method),
        )
    return {"hr": CV_FRAMES, "scored": scored}


def cv_score_files(wildcards=None):
    return [CV_SCORES.format(**job) for job in STUDY_JOBS["cv_score"]]


def cv_settings():
    """How the split range was split, for the tables' notes."""
    frames = fold_plan.split_range(config) if fold_plan.enabled(config) else [0]
    return {
        "where": fold_plan.range_source(config),
        "n_frames": len(frames),
        "first": frames[0],
        "last": frames[-1],
        "gap": config["cv"]["gap"],
    }
