"""Deployment as an experienced Snakemake user does it: the workflow imported as a module
(with a prefix) into another workflow, and the profiles that carry each rule's resources
(profiles/default, loaded by Snakemake itself; profiles/slurm on a cluster)."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TEST_CONFIG, explain, load_config, snakemake
from srstudy.plan import dag

PREFIX = "sr"
WARNING_SIGNAL = "--signal=TERM@120"
WORKFLOW_PROFILE = REPO / "profiles/default/config.yaml"
SLURM_PROFILE = REPO / "profiles/slurm/config.yaml"


@pytest.fixture(scope="module")
def study_config(tmp_path_factory) -> Path:
    """The cross-validation CI config with a search, videos and crops, its SRCNN variants
    trained in one group job per seed (its one scale makes no group otherwise): every rule
    of the study has jobs."""
    config = yaml.safe_load((REPO / ".test/config/cv.yaml").read_text())
    ci = yaml.safe_load(TEST_CONFIG.read_text())
    config |= {"videos": ci["videos"], "report": ci["report"] | {"comparisons": {"all_variants": {}}}}
    config["train"] = {**config.get("train", {}), "group": "variants"}
    config["search"] = {
        "srch": {
            "scales": [2],
            "trials": 2,
            "workers": 2,
            "budget": {"epochs": 1, "patches_per_epoch": 16},
            "space": {"lr": {"low": 5e-4, "high": 5e-3}},
        }
    }
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def planned(result) -> list[dict]:
    """Each job of a dry run: rule, outputs and resources."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        match = re.match(r"(?:local)?rule (\w+):", block)
        if not match:
            continue
        outputs = re.search(r"^\s+output: (.*)$", block, re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        jobs.append(
            {
                "rule": match.group(1),
                "output": outputs.group(1).split(", ") if outputs else [],
                "resources": dict(item.split("=", 1) for item in resources.group(1).split(", ")) if resources else {},
            }
        )
    return jobs


def rule_counts(jobs, strip="") -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        rule = job["rule"].removeprefix(strip)
        counts[rule] = counts.get(rule, 0) + 1
    return counts


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory, study_config):
    """A dry run of the repository's Snakefile as a SLURM user starts it: the workflow
    profile (found beside the Snakefile) and profiles/slurm without the executor's own
    keys (the plugin is not needed to see the resources each job asks for)."""
    profile = {
        key: value
        for key, value in yaml.safe_load(SLURM_PROFILE.read_text()).items()
        if key != "executor" and not key.startswith("slurm-")
    }
    folder = tmp_path_factory.mktemp("slurm-profile")
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    workdir = tmp_path_factory.mktemp("direct")
    result = snakemake(workdir, "-n", "--cores", "2", "--profile", str(folder), configfile=study_config)
    assert result.returncode == 0, explain(result)
    assert "workflow specific profile" in result.stderr, "profiles/default was not loaded"
    return planned(result)


@pytest.fixture(scope="module")
def module_run(tmp_path_factory, study_config):
    """A dry run of a second workflow in another folder that imports this one as a
    module, with a prefix, as the catalog's usage page shows."""
    workdir = tmp_path_factory.mktemp("importer")
    (workdir / "Snakefile").write_text(
        f'configfile: "{study_config}"\n\n\n'
        "module srstudy:\n"
        f'    snakefile:\n        "{REPO / "Snakefile"}"\n'
        "    config:\n        config\n"
        f'    prefix:\n        "{PREFIX}"\n\n\n'
        "use rule * from srstudy as srstudy_*\n"
    )
    result = snakemake(workdir, "-n", "--cores", "2", "--resources", "gpu=1", configfile=study_config)
    assert result.returncode == 0, explain(result)
    return planned(result)


def test_the_imported_workflow_plans_the_same_jobs_under_its_prefix(direct_run, module_run):
    direct = rule_counts(direct_run)
    assert rule_counts(module_run, strip="srstudy_") == direct
    assert set(dag.JOB_RULES) <= set(direct), "the config leaves a rule without jobs"
    outputs = [path for job in module_run for path in job["output"]]
    assert outputs and all(path.startswith(f"{PREFIX}/results/") for path in outputs), outputs[:5]
    assert not any(path.startswith(f"{PREFIX}/{PREFIX}/") for path in outputs)


def test_rules_whose_paths_left_the_declaration_are_named():
    config = load_config(TEST_CONFIG)  # train.group: scales
    first = config["scales"][0]
    paths = {rule: ([dag.TARGETS[rule]], dag.BENCHMARKS[rule]) for rule in dag.JOB_RULES if rule != "train_group"}
    paths["train_group"] = (
        [f"results/models/x{first}/{{variant}}/seed{{seed}}/model.pt"],
        "results/benchmarks/train_group/{variant}/seed{seed}.tsv",
    )
    assert dag.declared_path_problems(paths, config) == []
    prefixed = {
        rule: ([f"{PREFIX}/{outputs[0]}"], f"{PREFIX}/{benchmark}") for rule, (outputs, benchmark) in paths.items()
    }
    assert dag.declared_path_problems(prefixed, config) == []
    paths["train"] = (["results/models/x{scale}/{variant}/s{seed}/model.pt"], "results/benchmarks/train.tsv")
    problems = dag.declared_path_problems(paths, config)
    assert len(problems) == 2 and all(problem.startswith("rule train:") for problem in problems)
    paths["train_group"] = (paths["train_group"][0], "results/benchmarks/train_group/seed{seed}.tsv")
    assert [p for p in dag.declared_path_problems(paths, config) if p.startswith("rule train_group:")]
    assert "add its target" in dag.declared_path_problems({"train_fused": (["x"], "y")}, config)[0]


def test_every_rule_has_resources_in_the_workflow_profile(study_config, tmp_path):
    result = snakemake(tmp_path, "--list-rules", configfile=study_config)
    assert result.returncode == 0, explain(result)
    rules = set(result.stdout.split()) - set(dag.STAGES) - {"all"}
    profile = yaml.safe_load(WORKFLOW_PROFILE.read_text())
    job_rules = rules | set(dag.ON_DEMAND_RULES)
    missing = {rule for rule in job_rules if not {"runtime", "mem_mb"} <= set(profile["set-resources"].get(rule, {}))}
    assert not missing, f"{WORKFLOW_PROFILE}: add runtime and mem_mb under set-resources for {sorted(missing)}"
    assert set(profile["set-resources"]) <= job_rules, "profiles/default names rules the workflow lacks"


def test_the_rules_gpu_is_the_profiles_gpu(module_run):
    """The rules declare `gpu` (so the workflow as a module, without this profile, still
    caps GPU jobs); the workflow profile says the same."""
    declared = {job["rule"].removeprefix("srstudy_") for job in module_run if job["resources"].get("gpu") == "1"}
    profile = yaml.safe_load(WORKFLOW_PROFILE.read_text())["set-resources"]
    assert declared == {rule for rule, resources in profile.items() if resources.get("gpu") == 1}
    assert {"train", "upscale", "cv_train", "cv_upscale", "search_worker"} <= declared


def test_every_gpu_job_gets_a_time_limit_memory_and_the_warning_signal_on_slurm(direct_run):
    gpu_jobs = [job for job in direct_run if job["resources"].get("gpu") == "1"]
    assert {job["rule"] for job in gpu_jobs} >= {"train", "upscale", "cv_train", "cv_upscale", "search_worker"}
    for job in gpu_jobs:
        resources = job["resources"]
        assert int(resources["runtime"]) >= 60 and int(resources["mem_mb"]) >= 4000, job
        assert resources.get("slurm_extra") == WARNING_SIGNAL, job
    for job in direct_run:
        if job["rule"] != "all" and job["rule"] not in dag.STAGES:
            assert "runtime" in job["resources"] and "mem_mb" in job["resources"], job


def test_the_slurm_profile_holds_no_per_rule_resources():
    """Set there, they would be dropped: the workflow profile's set-resources wins whole."""
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert not {"set-resources", "set-threads"} & set(profile)


# --- software: conda envs (--sdm conda) and the pip path (run.sh) at the same versions ---
CONDA_TO_PYPI = {"pytorch": "torch"}


def pip_pins() -> dict[str, str]:
    """envs/pip-constraints.txt's version of each package for Python 3.11 on Linux."""
    pins = {}
    for line in (REPO / "envs/pip-constraints.txt").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==([^ ;]+)(?: ; (.*))?$", line.strip())
        if match and (match.group(3) is None or "< '3.12'" in match.group(3) or "linux" in match.group(3)):
            pins.setdefault(match.group(1).lower(), match.group(2))
    return pins


@pytest.mark.parametrize("env", sorted(path.name for path in (REPO / "envs").glob("*.yaml")))
def test_conda_envs_pin_every_package_at_the_pip_paths_version(env):
    spec = yaml.safe_load((REPO / "envs" / env).read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    pins = pip_pins()
    for entry in spec["dependencies"]:
        assert isinstance(entry, str), f"envs/{env}: {entry} (conda-forge has every package: no pip section)"
        name, _, version = entry.partition(" =")
        if name == "python":
            assert version == "3.11", entry
            continue
        assert re.fullmatch(r"\d+(\.\d+)+", version), f"envs/{env}: pin {name} exactly (name =X.Y.Z)"
        assert version == pins[CONDA_TO_PYPI.get(name, name)], f"envs/{env}: {name} differs from pip-constraints"


def test_run_sh_installs_the_locked_torch():
    default = re.search(r"TORCH_SPEC:-torch==([\d.]+)\}", (REPO / "run.sh").read_text()).group(1)
    assert pip_pins()["torch"] == default


# --- the container (Dockerfile; `containerized:` in the Snakefile) ------------------------
# Building the image needs its base images from a container registry, which this project's
# machines cannot reach: these tests check what can be checked without one.
DOCKERFILE_INSTRUCTIONS = {
    "COMMENT",
    "FROM",
    "COPY",
    "ENV",
    "LABEL",
    "RUN",
    "ARG",
    "WORKDIR",
    "USER",
    "ENTRYPOINT",
    "CMD",
}


def test_the_dockerfile_is_generated_from_the_envs():
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/dockerfile.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_dockerfile_parses_and_copies_files_that_exist():
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(REPO / "Dockerfile"))
    instructions = parser.structure
    assert {i["instruction"] for i in instructions} <= DOCKERFILE_INSTRUCTIONS
    stages = [i["value"] for i in instructions if i["instruction"] == "FROM"]
    assert stages[-1].startswith("nvidia/cuda:"), "the image runs on a CUDA base"
    for copy in (i["value"].split() for i in instructions if i["instruction"] == "COPY"):
        if not copy[0].startswith("--from="):
            assert (REPO / copy[0]).is_file(), copy
    assert parser.labels["io.github.snakemake.containerized"] == "true"


def test_the_snakefile_names_the_image_of_this_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    match = re.search(r'^containerized: "docker://([^"]+)"$', (REPO / "Snakefile").read_text(), re.M)
    assert match and match.group(1).endswith(f":{version}"), "tag the image with the project's version"


def test_the_dockerfile_holds_the_envs_snakemake_containerize_would(tmp_path):
    """`snakemake --containerize` labels the image with a hash of the env files and names a
    folder per env; it needs conda for the rest (this project's machines have none), after
    it has printed the label. With conda, every env folder is compared too. It runs in an
    empty folder: in a checkout whose study is finished there would be no job, and so no env."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    command += ["--configfile", str(REPO / "config/config.yaml"), "--directory", str(tmp_path)]
    result = subprocess.run(
        [*command, "--sdm", "conda", "--containerize"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    label = re.search(r'^LABEL io.github.snakemake.conda_env_hash="(\w+)"$', result.stdout, re.M)
    assert label, explain(result)
    dockerfile = (REPO / "Dockerfile").read_text()
    assert label.group(0) in dockerfile, "Dockerfile: envs/ changed, run python benchmarks/dockerfile.py"
    if result.returncode == 0:
        folders = re.findall(r"^#   prefix: (\S+)$", result.stdout, re.M)
        assert folders and all(f"#   prefix: {folder}" in dockerfile for folder in folders)
    else:
        assert "conda" in result.stderr, explain(result)


# --- packaging ----------------------------------------------------------------------------
def test_one_version_for_the_package_and_the_citation():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert yaml.safe_load((REPO / "CITATION.cff").read_text())["version"] == project["project"]["version"]
    assert any(req.startswith("setuptools>=77") for req in project["build-system"]["requires"])


def test_the_console_scripts_name_functions_that_exist():
    import importlib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "srstudy-upscale" in scripts
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target
