"""Partial reruns: after one finished run of the CI config (the shared end-to-end run),
dry runs show that each config or code change plans exactly the jobs it implies, rule by
rule, so a regression names the rule. Frame sets, test videos and models are separate
units of the DAG: more test frames or another test video never retrain a model.

Jobs per frame set are whole-set jobs: more frames in a set rerun that set's extraction
and degradation, and one upscale job per model for that set (the model loads once per
set), not one job per new frame."""

import copy
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from conftest import TEST_CONFIG, explain, load_config, snakemake
from srstudy.plan import dag


def planned_jobs(workdir: Path, configfile: Path, targets=()) -> dict[str, list[dict]]:
    """``{rule: [wildcards dict, ...]}`` of the jobs a dry run plans (rule all left out)."""
    result = snakemake(workdir, "-n", "--cores", "2", "--resources", "gpu=1", configfile=configfile, targets=targets)
    assert result.returncode == 0, explain(result)
    jobs: dict[str, list[dict]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        match = re.match(r"(?:local)?rule (\w+):", block)
        if not match or match.group(1) == "all":
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        pairs = dict(p.split("=", 1) for p in wildcards.group(1).split(", ")) if wildcards else {}
        jobs.setdefault(match.group(1), []).append(pairs)
    return jobs


def counts(jobs) -> dict[str, int]:
    """Jobs per rule; rules without jobs (a config without searches) are left out."""
    return {rule: len(entries) for rule, entries in jobs.items() if entries}


@pytest.fixture(scope="module")
def finished(e2e):
    workdir, _, result = e2e
    assert result.returncode == 0, "the end-to-end run failed"
    return workdir


@pytest.fixture
def config():
    return yaml.safe_load(TEST_CONFIG.read_text())


@pytest.fixture
def plan(finished, tmp_path):
    """Dry-run the finished study with a changed config: ``{rule: [wildcards, ...]}``."""

    def run(config: dict) -> dict[str, list[dict]]:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return planned_jobs(finished, path)

    return run


# The CI config's study: 2 scales, 2 variants (one seed), 2 test sets (the study's and bikes).
S, V, R = 2, 2, 2
MODELS = S * V
METHODS = V + 1
# The front page reads every test set's comparisons: it follows any of them.
AGGREGATES_ONE_SET = {
    "summary_tables": 1,
    "comparison_tables": S,
    "psnr_vs_scale": 1,
    "pareto_figure": 1,
    "cost_table": 1,
    "front_page": 1,
}
AGGREGATES = {
    "summary_tables": R,
    "comparison_tables": S * R,
    "psnr_vs_scale": R,
    "pareto_figure": R,
    "cost_table": 1,
    "front_page": 1,
}
# Videos of the study test set for one variant (its first seed) at every scale, and the
# About page, which lists the devices of every model.
VIDEOS = {"upscaled_video": S, "comparison_video": S}
ABOUT = {"software_versions": 1}


def test_the_ci_config_is_the_one_counted_here():
    validated = load_config(TEST_CONFIG)
    assert (len(validated["scales"]), len(validated["variants"]), 1 + len(validated["ood_tests"])) == (S, V, R)
    assert len(dag.models(validated)) == MODELS
    assert validated["videos"] == {"variants": ["default"], "scales": None}


def test_nothing_changed_nothing_reruns(plan, config):
    assert plan(config) == {}


def test_reordered_variant_keys_rerun_nothing(plan, config):
    config["defaults"] = dict(reversed(config["defaults"].items()))
    assert plan(config) == {}


def test_settings_that_cannot_change_an_output_rerun_nothing(plan, config):
    config["upscale"] = {"tile": 64}
    config["device"] = "cpu"
    config["threads"] = {"extract": 2, "degrade": 2, "train": 2, "upscale": 2, "score": 2}
    assert plan(config) == {}


def test_more_test_frames_retrain_nothing(plan, config):
    config["frames"]["test"]["step"] = 5  # 100, 105, 110, 115
    jobs = plan(config)
    assert counts(jobs) == {
        "extract_frames": 1,
        "degrade": S,
        "upscale": MODELS,
        "score": S * METHODS,
        **AGGREGATES_ONE_SET,
        "crop_figure": S,  # figures show study test frames
        "psnr_map_figure": S,
        **VIDEOS,  # the study test set's videos
    }
    assert {w["split"] for w in jobs["extract_frames"] + jobs["degrade"]} == {"test"}
    assert {w["root"] for rule in ("upscale", "score") for w in jobs[rule]} == {"results/"}
    assert {w["variant"] for rule in VIDEOS for w in jobs[rule]} == {"default"}


def test_a_new_test_video_runs_only_its_own_jobs(plan, config):
    config["ood_tests"]["bikes2"] = copy.deepcopy(config["ood_tests"]["bikes"])
    jobs = plan(config)
    assert counts(jobs) == {
        "extract_frames": 1,
        "degrade": S,
        "upscale": MODELS,
        "score": S * METHODS,
        **AGGREGATES_ONE_SET,
    }
    roots = {w["root"] for rule, entries in jobs.items() for w in entries if "root" in w}
    assert roots == {"results/ood/bikes2/"}


def test_more_frames_in_a_test_video_rerun_that_set_only(plan, config):
    config["ood_tests"]["bikes"]["frames"]["stop"] += 1
    jobs = plan(config)
    assert counts(jobs) == {
        "extract_frames": 1,
        "degrade": S,
        "upscale": MODELS,
        "score": S * METHODS,
        **AGGREGATES_ONE_SET,
    }
    roots = {w["root"] for rule, entries in jobs.items() for w in entries if "root" in w}
    assert roots == {"results/ood/bikes/"}


def test_a_new_crop_draws_only_that_crop(plan, config):
    config["report"]["crops"].append({"name": "corner", "frame": 100, "box": [0, 0, 64, 64]})
    jobs = plan(config)
    assert counts(jobs) == {"crop_figure": S, "cost_table": 1}
    assert {w["crop"] for w in jobs["crop_figure"]} == {"corner"}


def test_a_new_variant_runs_only_its_jobs_and_the_aggregates(plan, config):
    config["variants"]["prelu"] = {"activation": "prelu"}
    jobs = plan(config)
    assert counts(jobs) == {
        "train_group": 1,  # its scales, fused in one job (train.group: scales)
        "upscale": S * R,
        "score": S * R,
        **AGGREGATES,
        "run_summary": 1,  # it reads every model and training log
        "crop_figure": S,
        "training_figure": S,
        **ABOUT,  # no videos: prelu is not under 'videos:'
    }
    assert all(w["variant"] == "prelu" for rule in ("train_group", "upscale") for w in jobs[rule])
    assert {w["method"] for w in jobs["score"]} == {"prelu"}


def test_a_post_upsampling_variant_adds_its_lr_sets_and_retrains_no_srcnn(plan, config):
    """The first FSRCNN variant needs the LR-input h5 sets (one job per scale); the SRCNN
    variants' sets and models stay as they are."""
    config["variants"]["fast"] = {"arch": "fsrcnn", "fsrcnn": {"d": 8, "s": 4, "m": 1}}
    jobs = plan(config)
    assert counts(jobs) == {
        "pack_lr_h5": S,
        "train": S,
        "upscale": S * R,
        "score": S * R,
        **AGGREGATES,
        "run_summary": 1,  # it reads every model and training log
        "crop_figure": S,
        "training_figure": S,
        **ABOUT,
    }
    assert all(w["variant"] == "fast" for rule in ("train", "upscale") for w in jobs[rule])


def test_another_architectures_defaults_rerun_nothing(plan, config):
    """An SRCNN variant's jobs carry its own architecture's settings only."""
    config["defaults"]["fsrcnn"] = {"m": 2}
    config["defaults"]["espcn"] = {"activation": "relu"}
    assert plan(config) == {}


def test_a_new_seed_trains_only_the_new_seed(plan, config):
    config["defaults"]["seeds"] = [123, 7]
    jobs = plan(config)
    assert counts(jobs) == {
        "train_group": V,  # one per variant: the new seed's scales
        "upscale": MODELS * R,
        "score": S * V * R,  # bicubic has no seed
        **AGGREGATES,
        "run_summary": 1,  # it reads every model and training log
        "training_figure": S,
        **ABOUT,  # no videos: they show the first seed
    }
    assert {w["seed"] for rule in ("train_group", "upscale") for w in jobs[rule]} == {"7"}


def test_fusing_settings_rerun_nothing(plan, config):
    """train.fuse and train.fuse_conv say how a group job trains its models, not what
    they become (each reaches its own weights): execution settings, like train.step."""
    config["train"] = {"fuse": False, "fuse_conv": "vmap"}
    assert plan(config) == {}


def test_a_new_scale_reruns_the_group_jobs_and_what_reads_their_models(plan, config):
    """The trade-off of one job per variant and seed (train.group: scales, see
    docs/fused-training.md): a new scale is a new member of every group, so each group
    job reruns. Its finished members are restored from their saved progress, not
    trained again (tests/test_fused_training.py), but written anew: their upscaling,
    scores and figures rerun too. The new scale's data jobs are its own."""
    config["scales"] = [2, 3, 4]
    jobs = plan(config)
    frame_sets = 3 + (R - 1)  # train, eval, test, and each test video
    assert counts(jobs) == {
        "degrade": frame_sets,
        "pack_h5": 1,
        "train_group": V,
        "upscale": V * 3 * R,
        "score": V * 3 * R + R,  # every variant's, and bicubic at the new scale
        "run_summary": 1,
        "summary_tables": R,
        "comparison_tables": 3 * R,
        "psnr_vs_scale": R,
        "pareto_figure": R,
        "crop_figure": 3,
        "psnr_map_figure": 3,
        "training_figure": 3,
        "cost_table": 1,
        "front_page": 1,
        "upscaled_video": 3,
        "comparison_video": 3,
        **ABOUT,
    }
    assert {w["scale"] for rule in ("degrade", "pack_h5") for w in jobs[rule]} == {"4"}
    assert {w["method"] for w in jobs["score"] if w["scale"] != "4"} == set(config["variants"])


def test_changed_eval_frames_retrain_every_model(plan, config):
    config["frames"]["eval"] = {"start": 30, "stop": 33, "step": 2}
    jobs = plan(config)
    assert counts(jobs) == {
        "extract_frames": 1,
        "degrade": S,
        "pack_h5": S,
        "train_group": V,  # every model, in its variant's group job
        "upscale": MODELS * R,
        "score": S * V * R,
        **AGGREGATES,
        "run_summary": 1,  # it reads every model and training log
        "crop_figure": S,
        "psnr_map_figure": S,
        "training_figure": S,
        **VIDEOS,
        **ABOUT,
    }
    assert {w["split"] for w in jobs["extract_frames"] + jobs["degrade"]} == {"eval"}


def test_one_changed_hyperparameter_reruns_only_that_variant(plan, config):
    config["variants"]["elu"]["lr"] = 5e-4
    jobs = plan(config)
    assert counts(jobs) == {
        "train_group": 1,
        "upscale": S * R,
        "score": S * R,
        **AGGREGATES,
        "run_summary": 1,  # it reads every model and training log
        "crop_figure": S,
        "training_figure": S,
        **ABOUT,  # no videos: elu is not under 'videos:'
    }
    changed = {w.get("variant", w.get("method")) for rule in ("train_group", "upscale", "score") for w in jobs[rule]}
    assert changed == {"elu"}


def test_precision_is_a_rerun_trigger(plan, config):
    config["precision"] = "bf16"
    jobs = plan(config)
    assert counts(jobs)["train_group"] == V and counts(jobs)["upscale"] == MODELS * R


@pytest.fixture
def edit_module(finished):
    """Change a package module of the finished project (its content, newer mtime), and
    put it back afterwards (the project is shared by every test of the session)."""
    edited = []

    def edit(name: str, old: str, new: str) -> None:
        module = finished / "workflow/scripts/srstudy" / name
        original, before = module.read_bytes(), module.stat()
        edited.append((module, original, before))
        text = original.decode()
        assert old in text, f"{name} no longer holds {old!r}: pick another line to change"
        module.write_text(text.replace(old, new, 1))
        future = time.time() + 60
        os.utime(module, (future, future))

    yield edit
    for module, original, before in edited:
        module.write_bytes(original)
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_changed_file_code_reruns_everything_that_imports_it(plan, config, edit_module):
    """base/files.py holds the atomic writes of every stage: every job imports it."""
    edit_module("base/files.py", "def atomic_file(", "def atomic_file(  # edited by a test\n")
    jobs = plan(config)
    declared = dag.study_jobs(load_config(TEST_CONFIG))
    assert counts(jobs) == {rule: n for rule, n in counts(declared).items() if n}  # the CI config has no search


def test_changed_figure_code_redraws_figures_and_retrains_nothing(plan, config, edit_module):
    edit_module("report/figures.py", "def psnr_vs_scale(", "def psnr_vs_scale(  # edited by a test\n")
    jobs = plan(config)
    assert counts(jobs) == {
        "psnr_vs_scale": R,
        "pareto_figure": R,
        "crop_figure": S,
        "psnr_map_figure": S,
        "training_figure": S,
        "cost_table": 1,
    }


def test_changed_model_code_reruns_the_model_jobs(plan, config, edit_module):
    edit_module("nets/build.py", "def build_model(", "def build_model(  # edited by a test\n")
    jobs = plan(config)
    assert counts(jobs) == {
        "train_group": V,  # every model, in its variant's group job
        "upscale": MODELS * R,
        "score": S * V * R,
        **AGGREGATES,
        "run_summary": 1,  # it reads every model and training log
        "crop_figure": S,
        "psnr_map_figure": S,
        "training_figure": S,
        **VIDEOS,
        **ABOUT,
    }


def test_a_changed_config_message_reruns_nothing(plan, config, edit_module):
    """The config checks run at parse time: no job's code closure holds them."""
    edit_module("plan/preflight.py", "is not a test frame", "is not one of the test frames")
    assert counts(plan(config)) == {}


def test_a_changed_table_footnote_retrains_nothing(plan, config, edit_module):
    """Only the tables are rewritten, and what reads them (the cost table, the front
    page); the run summary shares their page layout (report/layout.py), not their wording,
    so it stays, and so does the Pareto figure, which reads its training table."""
    edit_module("report/tables.py", "Flags: below bicubic =", "Flags: below bicubic means")
    assert counts(plan(config)) == {
        "summary_tables": R,
        "comparison_tables": S * R,
        "cost_table": 1,
        "front_page": 1,
    }


def test_a_copied_project_is_up_to_date(finished, tmp_path):
    """The project folder (code, results, .snakemake) copied elsewhere has nothing to do:
    every input is a path relative to the project."""
    copied = tmp_path / "moved"
    shutil.copytree(finished, copied, symlinks=True)
    assert planned_jobs(copied, TEST_CONFIG) == {}


def test_step_execution_settings_retrain_nothing_but_tf32_retrains_every_model(plan, config):
    """train.step and train.log_every_steps say how steps run, not what they compute;
    TF32 changes the numerics, so it is part of every model."""
    config["train"] = {"step": "eager", "log_every_steps": 7}
    assert plan(config) == {}
    config["train"]["tf32"] = True
    assert len(plan(config)["train_group"]) == V  # every model, in its variant's group job


def test_thesis_code_output_reruns_upscale_and_score_not_training(plan, config):
    """upscale.thesis_code writes a thesis_code/ twin of every upscaled frame and scores
    it: every upscale job and every variant's score job rerun, and what reads them, not
    a model (nor the run summary, which reads models and logs only)."""
    config["upscale"] = {"thesis_code": True}
    jobs = plan(config)
    assert counts(jobs) == {
        "upscale": MODELS * R,
        "score": S * V * R,  # bicubic has no thesis code
        **AGGREGATES,
        "crop_figure": S,
        "psnr_map_figure": S,
        **VIDEOS,  # they read the upscaled folders
    }
    assert {w["method"] for w in jobs["score"]} == set(config["variants"])


def test_turning_cv_on_plans_only_new_jobs(finished, tmp_path):
    """After the finished CI study, a cv block adds the split range's frames and
    degradations, the folds' jobs and the cost table (it lists every job); no model,
    upscale, score or table of the study reruns."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["cv"] = {"folds": 3, "gap": 1, "frames": {"start": 0, "stop": 120, "step": 10}}
    path = tmp_path / "cv.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(finished, path)
    assert counts(jobs) == {
        "extract_frames": 1,  # the split range, one more frame set
        "degrade": S,
        "cv_pack_h5": 3 * S,
        "cv_train": 3 * MODELS,
        "cv_upscale": 3 * MODELS,
        "cv_score": 3 * S * METHODS,
        "cv_tables": 1,
        "cost_table": 1,
    }
    assert {w["split"] for w in jobs["extract_frames"] + jobs["degrade"]} == {"cv"}
    declared = dag.study_jobs(load_config(path))
    for rule in ("cv_pack_h5", "cv_train", "cv_upscale", "cv_score"):
        assert sorted(map(sorted, map(dict.items, jobs[rule]))) == sorted(map(sorted, map(dict.items, declared[rule])))
