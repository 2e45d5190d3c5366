"""The study's jobs are declared once (srstudy/plan/dag.py) and each rule's code inputs
are derived from what its script imports (srstudy/plan/codedeps.py)."""

import os
from pathlib import Path

import pytest
from conftest import REPO, TEST_CONFIG, explain, load_config, snakemake
from srstudy.plan import dag
from srstudy.plan.codedeps import code_inputs, import_closure
from test_reruns import planned_jobs

SCRIPTS = REPO / "workflow/scripts"
PACKAGE = SCRIPTS / "srstudy"


def closure(script: str) -> set[str]:
    """The package files a script runs, as paths inside the package."""
    found = import_closure((SCRIPTS / script).resolve(), SCRIPTS.resolve())
    return {path.relative_to(PACKAGE.resolve()).as_posix() for path in found}


def test_score_depends_on_the_image_code_it_runs_through_metrics():
    assert closure("score.py") == {
        "__init__.py",
        "base/__init__.py",
        "base/colour.py",
        "base/files.py",
        "base/frames.py",
        "base/joblog.py",
        "stages/__init__.py",
        "stages/metrics.py",
    }


def test_training_does_not_depend_on_figures_or_tables():
    deps = closure("train.py")
    assert {"train/loop.py", "nets/build.py", "stages/dataset.py", "base/files.py"} <= deps
    assert not deps & {"report/figures.py", "report/tables.py", "stages/metrics.py", "plan/dag.py"}


def test_figures_follow_their_imports_into_scores_and_metrics():
    deps = closure("figure_psnr_vs_scale.py")
    assert {"report/figures.py", "report/scores.py", "stages/metrics.py", "base/methods.py", "base/colour.py"} <= deps


def test_every_script_imports_the_package():
    for script in sorted(SCRIPTS.glob("*.py")):
        deps = closure(script.name)
        assert "__init__.py" in deps and "base/joblog.py" in deps, script.name


def test_relative_imports_and_names_inside_modules(tmp_path):
    package = tmp_path / "srstudy"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\nfrom .sub.c import helper\n")
    (package / "b.py").write_text("import os\n")
    (package / "unused.py").write_text("")
    (package / "sub/__init__.py").write_text("")
    (package / "sub/c.py").write_text("from ..b import thing\n")
    script = tmp_path / "run.py"
    script.write_text("from srstudy.a import main\nimport numpy\n")
    found = {p.relative_to(tmp_path).as_posix() for p in import_closure(script, tmp_path)}
    assert found == {
        "srstudy/__init__.py",
        "srstudy/a.py",
        "srstudy/b.py",
        "srstudy/sub/__init__.py",
        "srstudy/sub/c.py",
    }


def test_code_inputs_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    assert "workflow/scripts/srstudy/base/files.py" in code_inputs(SCRIPTS / "score.py", SCRIPTS)
    elsewhere = code_inputs(SCRIPTS / "score.py", SCRIPTS, start=tmp_path)
    assert all(not os.path.isabs(path) for path in elsewhere)
    assert {(tmp_path / path).resolve() for path in elsewhere} == {
        (PACKAGE / name).resolve() for name in closure("score.py")
    }


def test_the_declaration_is_the_dag(tmp_path):
    """A dry run from scratch plans exactly the declared jobs, rule by rule."""
    config = load_config(TEST_CONFIG)
    jobs = planned_jobs(tmp_path, TEST_CONFIG)
    assert not set(jobs) & set(dag.STAGES)  # rule all needs the outputs, not the stage targets
    expected = dag.study_jobs(config)
    assert {rule: sorted(map(sorted_items, entries)) for rule, entries in jobs.items()} == {
        rule: sorted(map(sorted_items, entries)) for rule, entries in expected.items() if entries
    }  # a rule with no job (no search configured) is not planned


def sorted_items(wildcards: dict) -> tuple:
    return tuple(sorted(wildcards.items()))


@pytest.mark.parametrize("stage", ["models", "scores"])
def test_stage_targets_build_their_stage_only(tmp_path, stage):
    result = snakemake(tmp_path, "-n", "--cores", "1", targets=[stage])
    assert result.returncode == 0, explain(result)
    planned = set(result.stdout.split("Job stats:")[1].split("total")[0].split())
    assert stage in planned
    assert not planned & {"summary_tables", "cost_table", "crop_figure"}
    assert ("score" in planned) == (stage == "scores")


def test_study_jobs_of_the_thesis_config():
    config = load_config(REPO / "config/thesis.yaml")
    jobs = dag.study_jobs(config)
    # 5 scales x 9 variants x 3 seeds, in one group job per variant and seed (train.group: scales)
    assert jobs["train"] == [] and len(jobs["train_group"]) == 27
    assert sorted(map(str, (m for g in jobs["train_group"] for m in dag.group_members(config, g)))) == sorted(
        map(str, dag.models(config))
    )
    assert len(jobs["upscale"]) == 135 * (1 + len(config["ood_tests"]))
    assert jobs["run_summary"] == [{}]
    assert jobs["extract_frames"][:3] == [{"root": "results/", "split": s} for s in ("train", "eval", "test")]
    assert (
        Path(dag.ood_root("bikes")).as_posix() == "results/ood/bikes"
        and dag.test_set_name("results/ood/bikes/") == "bikes"
    )
