# Shared by every stage: the package on the path, config validation, wildcard
# constraints and the input functions that map wildcards to config.
import sys
from pathlib import Path

# The package lives beside the rules' scripts: Snakemake puts a script's folder on
# sys.path, so jobs (local, cluster, conda envs) import it from this checkout.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow/scripts"))

from srstudy import config as study_config

RESULTS = "results/"
OOD_ROOT = "results/ood/{}/"


wildcard_constraints:
    root="results/(ood/[A-Za-z0-9_-]+/)?",
    variant="[A-Za-z0-9_-]+",
    scale=r"\d+",
    seed=r"\d+",


def validate_config(config):
    """Schema (with defaults), then the checks a schema cannot express."""
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


def upscaled_dirs(wildcards):
    """Upscaled test frames of one variant at one scale, one folder per seed."""
    return expand(
        "{root}upscaled/x{scale}/{variant}/seed{seed}",
        root=wildcards.root,
        scale=wildcards.scale,
        variant=wildcards.variant,
        seed=variant_seeds(wildcards.variant),
    )


def train_spec(wildcards):
    """A variant's model and training settings (its seed list excluded: adding a seed
    must not retrain the existing ones)."""
    spec = study_config.variant_spec(config, wildcards.variant)
    return {key: value for key, value in spec.items() if key != "seeds"}


def model_checkpoint(wildcards):
    return "results/models/x{scale}/{variant}/seed{seed}/model.pt".format(**wildcards)


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
