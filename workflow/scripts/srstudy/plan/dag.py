"""The study's jobs, declared once: every job of every rule, as its wildcards.

``rule all``, the stage targets (``snakemake models``), the report's content, the cost
table's inputs and the tests' expected job lists are all generated from
:func:`study_jobs`, so a new rule or wildcard is declared here and nowhere else.

Frame sets are units: the study video's train, eval and test frames and each
out-of-domain test video have their own frames and degraded folders, so training
depends on the train and eval frames only, and upscaling and scoring a test set depend
on that set and the model only.

Cross-validation (config ``cv:``, :mod:`srstudy.plan.folds`) adds its own frame set (the
split range, ``results/frames/cv``) and, per fold, h5 sets, models, upscaled test blocks
and scores under ``results/cv/fold{fold}/``: new jobs beside the study's, never new
inputs of its jobs, so turning it on retrains nothing.
"""

from srstudy.base.methods import study_methods
from srstudy.nets.registry import arch_of
from srstudy.plan import folds as fold_plan
from srstudy.plan.frames import frame_ids
from srstudy.plan.variants import variant_spec

RESULTS = "results/"
OOD_PREFIX = "results/ood/"
STUDY_TEST_SET = "study"
TRAINING_SPLITS = ("train", "eval")
CV_SPLIT = "cv"  # the frame set of cross-validation's split range

# Stage targets (``snakemake <stage>``): the job rules whose outputs each one builds.
STAGES = {
    "frames": ("extract_frames",),
    # pack_lr_h5: the LR-input sets, only for post-upsampling variants (srstudy/nets/registry.py)
    "datasets": ("degrade", "pack_h5", "pack_lr_h5", "cv_pack_h5", "cv_pack_lr_h5"),
    # hyperparameter searches (config 'search:'); each winner then trains as a variant
    "search": ("search_worker", "search_summary"),
    # train_group: one job per group of models (train.group), fused where it can be
    "models": ("train", "train_group", "cv_train"),
    "upscaled": ("upscale", "cv_upscale"),
    "scores": ("score", "cv_score"),
    # config 'videos:': the study test set upscaled as videos, and comparison videos
    "videos": ("upscaled_video", "comparison_video"),
    # all the report shows
    "tables": (
        "run_summary",
        "front_page",
        "summary_tables",
        "comparison_tables",
        "psnr_vs_scale",
        "pareto_figure",
        "crop_figure",
        "psnr_map_figure",
        "training_figure",
        "cost_table",
        "software_versions",
        "cv_tables",
    ),
}
JOB_RULES = tuple(rule for rules in STAGES.values() for rule in rules)

# Per job rule, as path patterns: the output that stands for a job (rule all and the stage
# targets ask for it; the job makes its other outputs with it) and its benchmark file (the
# cost table's inputs). The rules declare the same paths (checked when the workflow loads:
# common.smk); the targets are not read back from `rules.X.output` because, in a workflow
# imported as a module with a prefix, those already hold the prefix and it would be added twice.
TARGETS = {
    "extract_frames": "{root}frames/{split}",
    "degrade": "{root}degraded/{split}/x{scale}",
    "pack_h5": "results/h5/x{scale}/train.h5",
    "pack_lr_h5": "results/h5/x{scale}/lr/train.h5",
    "cv_pack_h5": "results/cv/fold{fold}/h5/x{scale}/train.h5",
    "cv_pack_lr_h5": "results/cv/fold{fold}/h5/x{scale}/lr/train.h5",
    "search_worker": "results/search/{search}/x{scale}/workers/{worker}.json",
    "search_summary": "results/search/{search}/x{scale}/best.yaml",
    "train": "results/models/x{scale}/{variant}/seed{seed}/model.pt",
    "cv_train": "results/cv/fold{fold}/models/x{scale}/{variant}/seed{seed}/model.pt",
    "upscale": "{root}upscaled/x{scale}/{variant}/seed{seed}.json",
    "cv_upscale": "results/cv/fold{fold}/upscaled/x{scale}/{variant}/seed{seed}.json",
    "score": "{root}scores/x{scale}/{method}.csv",
    "cv_score": "results/cv/fold{fold}/scores/x{scale}/{method}.csv",
    "upscaled_video": "results/videos/x{scale}/{variant}/seed{seed}.mkv",
    "comparison_video": "results/videos/x{scale}/{variant}/seed{seed}_comparison.html",
    "run_summary": "results/tables/run.html",
    "front_page": "results/report/front_page.html",
    "summary_tables": "{root}tables/summary.csv",
    "comparison_tables": "{root}tables/x{scale}.html",
    "psnr_vs_scale": "{root}figures/psnr_vs_scale.png",
    "pareto_figure": "{root}figures/pareto.png",
    "crop_figure": "results/figures/crops/{crop}_x{scale}.png",
    "psnr_map_figure": "results/figures/psnr_map_x{scale}.png",
    "training_figure": "results/figures/training_x{scale}.png",
    "cost_table": "results/tables/costs.html",
    "software_versions": "results/about/software.html",
    "cv_tables": "results/cv/tables/cv.html",
}
BENCHMARKS = {
    "extract_frames": "{root}benchmarks/extract_frames/{split}.tsv",
    "degrade": "{root}benchmarks/degrade/{split}/x{scale}.tsv",
    "pack_h5": "results/benchmarks/pack_h5/x{scale}.tsv",
    "pack_lr_h5": "results/benchmarks/pack_lr_h5/x{scale}.tsv",
    "cv_pack_h5": "results/benchmarks/cv/fold{fold}/pack_h5/x{scale}.tsv",
    "cv_pack_lr_h5": "results/benchmarks/cv/fold{fold}/pack_lr_h5/x{scale}.tsv",
    "search_worker": "results/benchmarks/search_worker/{search}/x{scale}/worker{worker}.tsv",
    "search_summary": "results/benchmarks/search_summary/{search}/x{scale}.tsv",
    "train": "results/benchmarks/train/x{scale}/{variant}/seed{seed}.tsv",
    "cv_train": "results/benchmarks/cv/fold{fold}/train/x{scale}/{variant}/seed{seed}.tsv",
    "upscale": "{root}benchmarks/upscale/x{scale}/{variant}/seed{seed}.tsv",
    "cv_upscale": "results/benchmarks/cv/fold{fold}/upscale/x{scale}/{variant}/seed{seed}.tsv",
    "score": "{root}benchmarks/score/x{scale}/{method}.tsv",
    "cv_score": "results/benchmarks/cv/fold{fold}/score/x{scale}/{method}.tsv",
    "upscaled_video": "results/benchmarks/upscaled_video/x{scale}/{variant}/seed{seed}.tsv",
    "comparison_video": "results/benchmarks/comparison_video/x{scale}/{variant}/seed{seed}.tsv",
    "run_summary": "results/benchmarks/run_summary.tsv",
    "front_page": "results/benchmarks/front_page.tsv",
    "summary_tables": "{root}benchmarks/summary_tables.tsv",
    "comparison_tables": "{root}benchmarks/comparison_tables/x{scale}.tsv",
    "psnr_vs_scale": "{root}benchmarks/psnr_vs_scale.tsv",
    "pareto_figure": "{root}benchmarks/pareto_figure.tsv",
    "crop_figure": "results/benchmarks/crop_figure/x{scale}/{crop}.tsv",
    "psnr_map_figure": "results/benchmarks/psnr_map_figure/x{scale}.tsv",
    "training_figure": "results/benchmarks/training_figure/x{scale}.tsv",
    "cost_table": "results/benchmarks/cost_table.tsv",
    "software_versions": "results/benchmarks/software_versions.tsv",
    "cv_tables": "results/benchmarks/cv/tables.tsv",
}
# A group job (train_group) stands for its models: its target is its first model's
# checkpoint; its benchmark file is named by its group (train.group).
GROUP_BENCHMARKS = {
    "scales": "results/benchmarks/train_group/{variant}/seed{seed}.tsv",
    "variants": "results/benchmarks/train_group/seed{seed}.tsv",
}


# Made only when needed (a configured video that is missing but has a url).
ON_DEMAND_RULES = ("download_video",)


def job_target(rule: str, wildcards: dict[str, str], config: dict) -> str:
    """The output that stands for one job of ``rule`` (rule all and the stage targets)."""
    if rule == "train_group":
        return TARGETS["train"].format(**group_members(config, wildcards)[0])
    return TARGETS[rule].format(**wildcards)


def job_benchmark(rule: str, wildcards: dict[str, str], config: dict) -> str:
    """The benchmark file of one job of ``rule`` (the cost table's input)."""
    if rule == "train_group":
        return GROUP_BENCHMARKS[config["train"]["group"]].format(**wildcards)
    return BENCHMARKS[rule].format(**wildcards)


def declared_path_problems(rule_paths: dict[str, tuple[list[str], str]], config: dict) -> list[str]:
    """``{rule: (output patterns, benchmark pattern)}`` of the rules: where they
    disagree with :data:`TARGETS` and :data:`BENCHMARKS` (:data:`GROUP_BENCHMARKS`)."""
    problems = []
    for rule, (outputs, benchmark) in rule_paths.items():
        if rule == "train_group":
            group = {key: "{" + key + "}" for key in train_groups(config)[0]}
            target, expected = job_target(rule, group, config), job_benchmark(rule, group, config)
        elif rule not in TARGETS or rule not in BENCHMARKS:
            problems.append(f"rule {rule}: add its target output and benchmark to dag.TARGETS and dag.BENCHMARKS")
            continue
        else:
            target, expected = TARGETS[rule], BENCHMARKS[rule]
        if not any(output.endswith(target) for output in outputs):
            problems.append(f"rule {rule}: none of its outputs {outputs} is dag's target {target!r}")
        if not benchmark.endswith(expected):
            problems.append(f"rule {rule}: its benchmark {benchmark!r} is not dag's {expected!r}")
    return problems


def ood_root(name: str) -> str:
    return f"{OOD_PREFIX}{name}/"


def test_roots(config: dict) -> list[str]:
    """Result roots of the test sets: the study video's, then each out-of-domain one."""
    return [RESULTS] + [ood_root(name) for name in config["ood_tests"]]


def test_set_name(root: str) -> str:
    """``study`` for the study video's test set, else the out-of-domain test's name."""
    return STUDY_TEST_SET if root == RESULTS else root[len(OOD_PREFIX) : -1]


def frame_sets(config: dict) -> list[tuple[str, str]]:
    """Every frame set as ``(root, split)``: the study video's train, eval and test
    frames (and cross-validation's split range, when on), and each out-of-domain video's
    test frames."""
    cv = [CV_SPLIT] if fold_plan.enabled(config) else []
    return [(RESULTS, split) for split in (*TRAINING_SPLITS, "test", *cv)] + [
        (root, "test") for root in test_roots(config)[1:]
    ]


def frames_of(config: dict, root: str, split: str) -> list[int]:
    """Frame numbers of one frame set."""
    if root == RESULTS:
        return fold_plan.split_range(config) if split == CV_SPLIT else frame_ids(config["frames"][split])
    if split != "test":
        raise ValueError(f"an out-of-domain test video has test frames only, not '{split}'")
    return frame_ids(config["ood_tests"][test_set_name(root)]["frames"])


def models(config: dict) -> list[dict[str, str]]:
    """Wildcards of every trained model: scale x variant x seed."""
    return [
        {"scale": str(scale), "variant": variant, "seed": str(seed)}
        for scale in config["scales"]
        for variant in config["variants"]
        for seed in variant_spec(config, variant)["seeds"]
    ]


def grouped_variants(config: dict) -> list[str]:
    """The variants whose models train in group jobs (``train.group`` other than model):
    those on the HR grid, when a group would hold more than one model. A network on the
    LR grid changes its layer shapes with the scale (FSRCNN's deconvolution, ESPCN's last
    layer), so it keeps one model per job."""
    if config["train"]["group"] == "model":
        return []
    variants = [v for v in config["variants"] if arch_of(variant_spec(config, v)).grid == "hr"]
    per_job = len(config["scales"]) * (len(variants) if config["train"]["group"] == "variants" else 1)
    return variants if per_job > 1 else []  # a group of one is a model job


def train_groups(config: dict) -> list[dict[str, str]]:
    """Wildcards of every group job: variant x seed (``train.group: scales``), or seed
    (``variants``: every grouped variant trains with the same seeds)."""
    variants = grouped_variants(config)
    if not variants:
        return []
    if config["train"]["group"] == "scales":
        return [{"variant": v, "seed": str(seed)} for v in variants for seed in variant_spec(config, v)["seeds"]]
    return [{"seed": str(seed)} for seed in variant_spec(config, variants[0])["seeds"]]


def group_members(config: dict, group: dict[str, str]) -> list[dict[str, str]]:
    """The models (scale, variant, seed) of one group job, in output order; with
    placeholder values ("{variant}") it gives the rule's output patterns."""
    variants = [group["variant"]] if "variant" in group else grouped_variants(config)
    return [
        {"scale": str(scale), "variant": variant, "seed": group["seed"]}
        for variant in variants
        for scale in config["scales"]
    ]


def group_problems(config: dict) -> list[str]:
    """``train.group: variants`` puts one seed's models in one job, so every grouped
    variant must train with the same seeds."""
    variants = grouped_variants(config)
    if config["train"]["group"] != "variants" or not variants:
        return []
    seeds = {v: variant_spec(config, v)["seeds"] for v in variants}
    first = seeds[variants[0]]
    odd = [v for v in variants if seeds[v] != first]
    if not odd:
        return []
    return [
        f"train.group: variants trains one job per seed, but variants {', '.join(odd)} have other seeds than "
        f"{variants[0]} ({first}); give them the same seeds, or set train.group: scales"
    ]


def lr_grid_variants(config: dict) -> list[str]:
    """The variants whose architecture reads the LR frame (they need the LR h5 sets)."""
    return [v for v in config["variants"] if arch_of(variant_spec(config, v)).grid == "lr"]


def video_models(config: dict) -> list[dict[str, str]]:
    """Wildcards of the models made into videos: each variant under 'videos:' (its
    first seed) x the videos' scales (all scales when none are given)."""
    return [
        {"scale": str(scale), "variant": variant, "seed": str(variant_spec(config, variant)["seeds"][0])}
        for scale in config["videos"]["scales"] or config["scales"]
        for variant in config["videos"]["variants"]
    ]


def cv_models(config: dict) -> list[dict[str, str]]:
    """Wildcards of every cross-validation model: fold x scale x variant x seed."""
    return [{"fold": str(fold["fold"]), **model} for fold in fold_plan.folds_of(config) for model in models(config)]


def searched_scales(config: dict, search: str) -> list[int]:
    """The scales a search runs at (the others take the nearest searched scale's winner)."""
    return config["search"][search]["scales"] or config["scales"]


def search_jobs(config: dict) -> list[dict[str, str]]:
    """Wildcards of every search x searched scale."""
    return [
        {"search": name, "scale": str(scale)}
        for name in config.get("search", {})
        for scale in searched_scales(config, name)
    ]


def study_jobs(config: dict) -> dict[str, list[dict[str, str]]]:
    """``{rule: [wildcards, ...]}``: every job of a finished study (a validated config),
    rules in pipeline order, wildcard values as Snakemake gives them (strings)."""
    scales = [str(scale) for scale in config["scales"]]
    roots = test_roots(config)
    crops = [crop["name"] for crop in config["report"]["crops"]]
    sets = frame_sets(config)
    folds = fold_plan.folds_of(config)
    return {
        "extract_frames": [{"root": root, "split": split} for root, split in sets],
        "degrade": [{"root": root, "split": split, "scale": scale} for root, split in sets for scale in scales],
        "pack_h5": [{"scale": scale} for scale in scales],
        "pack_lr_h5": [{"scale": scale} for scale in scales if lr_grid_variants(config)],
        "search_worker": [
            {**job, "worker": str(worker)}
            for job in search_jobs(config)
            for worker in range(config["search"][job["search"]]["workers"])
        ],
        "search_summary": search_jobs(config),
        "train": [model for model in models(config) if model["variant"] not in grouped_variants(config)],
        "train_group": train_groups(config),
        "upscale": [{"root": root, **model} for root in roots for model in models(config)],
        "score": [
            {"root": root, "scale": scale, "method": method}
            for root in roots
            for scale in scales
            for method in study_methods(config["variants"])
        ],
        "run_summary": [{}],
        "front_page": [{}],
        "summary_tables": [{"root": root} for root in roots],
        "comparison_tables": [{"root": root, "scale": scale} for root in roots for scale in scales],
        "psnr_vs_scale": [{"root": root} for root in roots],
        "pareto_figure": [{"root": root} for root in roots],
        "crop_figure": [{"crop": crop, "scale": scale} for crop in crops for scale in scales],
        "psnr_map_figure": [{"scale": scale} for scale in scales],
        "training_figure": [{"scale": scale} for scale in scales],
        "upscaled_video": video_models(config),
        "comparison_video": video_models(config),
        "cost_table": [{}],
        "software_versions": [{}],
        # cross-validation (config 'cv:'): per fold, the study's chain on the fold's frames
        "cv_pack_h5": [{"fold": str(f["fold"]), "scale": scale} for f in folds for scale in scales],
        "cv_pack_lr_h5": [
            {"fold": str(f["fold"]), "scale": scale} for f in folds for scale in scales if lr_grid_variants(config)
        ],
        "cv_train": cv_models(config),
        "cv_upscale": cv_models(config),
        "cv_score": [
            {"fold": str(f["fold"]), "scale": scale, "method": method}
            for f in folds
            for scale in scales
            for method in study_methods(config["variants"])
        ],
        "cv_tables": [{}] if folds else [],
    }


def job_labels(rule: str, wildcards: dict) -> dict:
    """What the cost table says about a job, from its rule and wildcards (not its paths):
    rule, test set (for jobs of a frame or test set), scale, method, seed and any other
    wildcard as detail."""
    rest = {k: v for k, v in wildcards.items() if k not in {"root", "scale", "variant", "method", "seed"}}
    return {
        "rule": rule,
        "test_set": test_set_name(wildcards["root"]) if "root" in wildcards else "",
        "scale": int(wildcards["scale"]) if "scale" in wildcards else None,
        "method": wildcards.get("method", wildcards.get("variant", "")),
        "seed": int(wildcards["seed"]) if "seed" in wildcards else None,
        "detail": ", ".join(f"{k}={v}" for k, v in rest.items()),
    }
