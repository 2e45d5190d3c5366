"""Partial reruns: after a finished run of the CI config, dry runs show that a config or
code change schedules exactly the jobs that depend on it."""

import os
import re
import time

import pytest
import yaml
from conftest import REPO, TEST_CONFIG, explain, snakemake

REPORT_RULES = set(re.findall(r"^rule (\w+):", (REPO / "workflow/rules/report.smk").read_text(), re.M))
PER_MODEL_RULES = {"train", "upscale", "score"}


def planned(workdir, config: dict, tmp_path):
    """``{rule: [wildcards dict, ...]}`` of the jobs a dry run with ``config`` plans."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, "-n", "--cores", "2", "--resources", "gpu=1", configfile=path)
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


@pytest.fixture
def finished(e2e):
    workdir, _, result = e2e
    assert result.returncode == 0, "the end-to-end run failed"
    return workdir


@pytest.fixture
def config():
    return yaml.safe_load(TEST_CONFIG.read_text())


def counts(jobs):
    return {rule: len(entries) for rule, entries in jobs.items()}


def test_nothing_changed_nothing_reruns(finished, config, tmp_path):
    assert planned(finished, config, tmp_path) == {}


def test_reordered_variant_keys_retrain_nothing(finished, config, tmp_path):
    config["defaults"] = dict(reversed(config["defaults"].items()))
    jobs = planned(finished, config, tmp_path)
    assert not set(jobs) & {"train", "upscale", "score"}


def test_a_new_variant_runs_only_its_jobs_and_the_aggregates(finished, config, tmp_path):
    config["variants"]["prelu"] = {"activation": "prelu"}
    jobs = planned(finished, config, tmp_path)
    scales, roots = len(config["scales"]), 1 + len(config["ood_tests"])
    assert counts(jobs) == {
        "train": scales,
        "upscale": scales,  # one job upscales every test set
        "score": scales * roots,
        **{rule: n for rule, n in counts(jobs).items() if rule in REPORT_RULES},
    }
    assert set(jobs) - PER_MODEL_RULES <= REPORT_RULES and "summary_tables" in jobs
    assert all(w["variant"] == "prelu" for rule in PER_MODEL_RULES for w in jobs[rule])


def test_one_changed_hyperparameter_reruns_only_that_variant(finished, config, tmp_path):
    config["variants"]["elu"]["lr"] = 5e-4
    jobs = planned(finished, config, tmp_path)
    assert {w["variant"] for rule in PER_MODEL_RULES for w in jobs[rule]} == {"elu"}
    assert len(jobs["train"]) == len(config["scales"])
    assert set(jobs) - PER_MODEL_RULES <= REPORT_RULES


def test_a_new_seed_trains_only_the_new_seed(finished, config, tmp_path):
    config["defaults"]["seeds"] = [123, 7]
    jobs = planned(finished, config, tmp_path)
    assert len(jobs["train"]) == len(config["scales"]) * len(config["variants"])
    assert {w["seed"] for w in jobs["train"] + jobs["upscale"]} == {"7"}


def test_changed_model_code_retrains_every_model(finished, config, tmp_path):
    """Snakemake reruns on a code input only when its content changed (it checks the
    recorded checksum of a newer file), so the module really changes, then is restored."""
    module = REPO / "workflow/scripts/srstudy/models.py"
    original, before = module.read_bytes(), module.stat()
    try:
        module.write_bytes(original + b"\n# changed by tests/test_reruns.py\n")
        os.utime(module, (time.time() + 60, time.time() + 60))
        jobs = planned(finished, config, tmp_path)
    finally:
        module.write_bytes(original)
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert len(jobs["train"]) == len(config["scales"]) * len(config["variants"])
    assert "extract_frames" not in jobs and "pack_h5" not in jobs


def test_thesis_code_output_reruns_upscale_and_score_not_training(finished, config, tmp_path):
    config["upscale"] = {"thesis_code": True}
    jobs = planned(finished, config, tmp_path)
    scales, roots = len(config["scales"]), 1 + len(config["ood_tests"])
    assert "train" not in jobs and "pack_h5" not in jobs
    assert len(jobs["upscale"]) == scales * len(config["variants"])
    assert {w["variant"] for w in jobs["score"]} == set(config["variants"])  # bicubic has no thesis code
    assert len(jobs["score"]) == scales * roots * len(config["variants"])
