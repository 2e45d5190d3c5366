# Shared by every stage: the package on the path, config validation, wildcard
# constraints and the input functions that map wildcards to config.
import json
import re
import sys
from pathlib import Path

# The package lives beside the rules' scripts: Snakemake puts a script's folder on
# sys.path, so jobs (local, cluster, conda envs) import it from this checkout.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow/scripts"))

from srstudy import config as study_config
from srstudy.published import thesis_columns
from srstudy.jobs import short_errors

RESULTS = "results/"
OOD_ROOT = "results/ood/{}/"


wildcard_constraints:
    root="results/(ood/[A-Za-z0-9_-]+/)?",
    variant="[A-Za-z0-9_-]+",
    scale=r"\d+",
    seed=r"\d+",


def validate_config(config):
    """Schema (with defaults), then the checks a schema cannot express. A problem stops
    Snakemake before any job with the message alone (SRSTUDY_DEBUG=1: with a traceback)."""
    with short_errors():
        study_config.validate_schema(
            config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
        )
        study_config.check_semantics(config)
        return study_config.check_videos(config)


def roots():
    """Result roots: the study video's test set, then each out-of-domain test set."""
    return [RESULTS] + [OOD_ROOT.format(name) for name in config["ood_tests"]]


def ood_name(root):
    return root[len("results/ood/") : -1] if root != RESULTS else None


def video_of(wildcards):
    name = ood_name(wildcards.root)
    return str(VIDEOS["video" if name is None else f"ood_tests.{name}.video"])


def frames_of(root, frame_set=None):
    """Frame numbers of a root: one set of the study video, or all the frames it needs."""
    name = ood_name(root)
    if name is not None:
        return study_config.frame_ids(config["ood_tests"][name]["frames"])
    sets = [frame_set] if frame_set else study_config.FRAME_SETS
    return sorted(set().union(*(study_config.frame_ids(config["frames"][s]) for s in sets)))


def extract_params(wildcards):
    return frames_of(wildcards.root)


def variant_seeds(variant):
    return study_config.variant_spec(config, variant)["seeds"]


# Where one model (scale x variant x seed) lives, and its upscaled frames per test set.
MODEL = "results/models/x{scale}/{variant}/seed{seed}/model.pt"
TRAINING_LOG = "results/models/x{scale}/{variant}/seed{seed}/log.csv"
UPSCALED_DIR = "{root}upscaled/x{scale}/{variant}/seed{seed}"


def upscaled_dirs(wildcards):
    """Upscaled test frames of one variant at one scale, one folder per seed."""
    return expand(
        UPSCALED_DIR,
        root=wildcards.root,
        scale=wildcards.scale,
        variant=wildcards.variant,
        seed=variant_seeds(wildcards.variant),
    )


def train_spec(wildcards):
    """A variant's model and training settings (its seed list excluded: adding a seed
    must not retrain the existing ones)."""
    spec = study_config.variant_spec(config, wildcards.variant)
    # Canonical key order: Snakemake compares params as text, and writing a variant's
    # keys in another order must not retrain it.
    return json.loads(json.dumps({k: v for k, v in spec.items() if k != "seeds"}, sort_keys=True))


def model_checkpoint(wildcards):
    return MODEL.format(**wildcards)


def test_frames(wildcards):
    return frames_of(wildcards.root, "test")


def package_modules(*names):
    """Package modules a rule's results depend on: Snakemake cannot see them through
    ``script:``, so they are inputs (a change in the code reruns what it affects)."""
    return [f"{workflow.basedir}/workflow/scripts/srstudy/{name}.py" for name in names]


def per_model(pattern, root_list=None):
    """``pattern`` expanded over every trained model: scale x variant x seed (x root)."""
    return [
        path
        for variant in config["variants"]
        for path in expand(
            pattern,
            root=root_list or roots(),
            scale=config["scales"],
            variant=variant,
            seed=variant_seeds(variant),
        )
    ]


# --- scores, tables and figures (metrics.smk, report.smk) -----------------------------
BICUBIC = "bicubic"


def score_input(wildcards):
    """The HR frames, and what is scored: a variant's upscaled folders (one per seed),
    or the degraded folder whose bicubic/ subfolder is the baseline."""
    if wildcards.variant == BICUBIC:
        scored = [f"{wildcards.root}degraded/x{wildcards.scale}"]
    else:
        scored = upscaled_dirs(wildcards)
    return {"hr": f"{wildcards.root}frames", "scored": scored, "code": package_modules("metrics")}


def score_seeds(wildcards):
    """The seed of each scored folder, in input order (none for bicubic)."""
    return [None] if wildcards.variant == BICUBIC else variant_seeds(wildcards.variant)


def score_subfolder(wildcards):
    """Where the frames lie inside each scored folder."""
    return BICUBIC if wildcards.variant == BICUBIC else ""


def scores_thesis_code(wildcards):
    """Whether the frames scored have thesis-code twins (upscale.thesis_code; not bicubic)."""
    return config["upscale"]["thesis_code"] and wildcards.variant != BICUBIC


def report_targets():
    """Every table and figure (for rule all)."""
    return [
        "results/tables/run.html",
        *expand(
            "{root}tables/x{scale}.{ext}", root=roots(), scale=config["scales"], ext=["md", "html"]
        ),
        *expand("{root}figures/psnr_vs_scale.png", root=roots()),
        *expand(
            "results/figures/crops/{crop}_x{scale}.png",
            crop=[crop["name"] for crop in config["report"]["crops"]],
            scale=config["scales"],
        ),
        *expand("results/figures/psnr_map_x{scale}.png", scale=config["scales"]),
        *expand("results/figures/training_x{scale}.png", scale=config["scales"]),
    ]


def scores_of_root(wildcards):
    """Score files of one test set: every scale, bicubic and every variant."""
    return expand(
        "{root}scores/x{scale}/{variant}.csv",
        root=wildcards.root,
        scale=config["scales"],
        variant=[BICUBIC, *config["variants"]],
    )


def test_set_title(wildcards):
    name = ood_name(wildcards.root)
    return "study test set" if name is None else f"out-of-domain test set '{name}'"


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


def figure_frames(wildcards):
    """HR frames, the degraded folder (bicubic) and each variant's first-seed frames."""
    return {
        "hr": f"{RESULTS}frames",
        "degraded": f"{RESULTS}degraded/x{wildcards.scale}",
        "variants": [first_seed_dir(v, wildcards.scale) for v in config["variants"]],
        "code": package_modules("figures", "metrics", "tables"),
    }


def crop_spec(wildcards):
    return next(c for c in config["report"]["crops"] if c["name"] == wildcards.crop)


def psnr_map_frames(wildcards):
    """HR frames, bicubic and the baseline variant's first-seed frames."""
    return {
        "hr": f"{RESULTS}frames",
        "degraded": f"{RESULTS}degraded/x{wildcards.scale}",
        "model": first_seed_dir(config["baseline_variant"], wildcards.scale),
        "code": package_modules("figures", "metrics"),
    }


def psnr_map_frame(wildcards):
    frame = config["report"]["psnr_map"]["frame"]
    return frame if frame is not None else frames_of(RESULTS, "test")[0]


def training_runs(wildcards):
    """(variant, seed) of every model, in the order of training_logs."""
    return [[v, s] for v in config["variants"] for s in variant_seeds(v)]


def training_logs(wildcards):
    return [
        TRAINING_LOG.format(scale=wildcards.scale, variant=variant, seed=seed)
        for variant, seed in training_runs(wildcards)
    ]


def benchmark_files(wildcards):
    """The ``benchmark:`` file of every job of the study (the cost table's input)."""
    scales, per_root = config["scales"], {"root": roots()}
    crops = [crop["name"] for crop in config["report"]["crops"]]
    return [
        *expand(rules.extract_frames.benchmark, **per_root),
        *expand(rules.degrade.benchmark, **per_root, scale=scales),
        *expand(rules.pack_h5.benchmark, scale=scales),
        *per_model(rules.train.benchmark, [RESULTS]),
        *per_model(rules.upscale.benchmark, [RESULTS]),
        *expand(
            rules.score.benchmark, **per_root, scale=scales, variant=[BICUBIC, *config["variants"]]
        ),
        *expand(rules.summary_tables.benchmark, **per_root),
        *expand(rules.comparison_tables.benchmark, **per_root, scale=scales),
        *expand(rules.psnr_vs_scale.benchmark, **per_root),
        *expand(rules.crop_figure.benchmark, crop=crops, scale=scales),
        *expand(rules.psnr_map_figure.benchmark, scale=scales),
        *expand(rules.training_figure.benchmark, scale=scales),
        rules.run_summary.benchmark,
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
