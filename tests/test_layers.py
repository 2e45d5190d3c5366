"""The package's layers import downward only, and each rule's code closure (its rerun
triggers, srstudy/plan/codedeps.py) holds only the layers its work needs: an edit to a
config message or a table footnote must not retrain a model or rerun a search trial."""

import ast
from pathlib import Path

import pytest
from srstudy.plan.codedeps import import_closure

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow/scripts"
PACKAGE = SCRIPTS / "srstudy"

# Lowest first: a module may import its own layer and the layers before it.
LAYERS = ("base", "nets", "stages", "train", "search", "plan", "report")

# The training code proper. train.convergence (the verdict on a finished log) is read by
# the tables and reports, never by a training job: changing the rule must not retrain.
TRAINING = tuple(f"srstudy.train.{name}" for name in ("fused", "fused_steps", "loop", "patches", "resume", "steps"))

# Rule script -> package prefixes its closure must not reach.
NOT_REACHED = {
    "train.py": (
        "srstudy.train.convergence",
        "srstudy.plan",
        "srstudy.report",
        "srstudy.search",
        "srstudy.stages.inference",
        "srstudy.stages.video",
    ),
    "train_group.py": (
        "srstudy.train.convergence",
        "srstudy.plan",
        "srstudy.report",
        "srstudy.search",
        "srstudy.stages.inference",
        "srstudy.stages.video",
    ),
    "search_worker.py": (
        "srstudy.train.convergence",
        "srstudy.report",
        "srstudy.plan",
        "srstudy.stages.inference",
        "srstudy.stages.video",
    ),
    "upscale.py": ("srstudy.train", "srstudy.search", "srstudy.plan", "srstudy.report", "srstudy.stages.video"),
    "score.py": ("srstudy.nets", "srstudy.train", "srstudy.search", "srstudy.plan", "srstudy.report"),
    "pack_h5.py": ("srstudy.nets", "srstudy.train", "srstudy.search", "srstudy.plan", "srstudy.report"),
    "degrade.py": ("srstudy.nets", "srstudy.train", "srstudy.search", "srstudy.plan", "srstudy.report"),
    "extract_frames.py": ("srstudy.nets", "srstudy.train", "srstudy.search", "srstudy.plan", "srstudy.report"),
    "summary_tables.py": (*TRAINING, "srstudy.search", "srstudy.plan.config", "srstudy.plan.preflight"),
    "comparison_tables.py": (*TRAINING, "srstudy.search", "srstudy.plan.config", "srstudy.plan.preflight"),
    "run_summary.py": ("srstudy.search", "srstudy.train.loop", "srstudy.plan.config", "srstudy.plan.preflight"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SCRIPTS).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def closure(script: str) -> set[str]:
    return {module_name(path) for path in import_closure((SCRIPTS / script).resolve(), SCRIPTS.resolve())}


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 2 else -1  # the package's own __init__: below all


def package_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("srstudy"):
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("srstudy"))
    return names


def test_every_module_lives_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside the layers {LAYERS}: {loose}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(LAYERS)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_import_downward_only(path):
    own = layer_of(module_name(path))
    upward = sorted(
        name
        for name in package_imports(path)
        if len(name.split(".")) > 2 and name.split(".")[1] in LAYERS and layer_of(name) > own
    )
    assert not upward, f"{path.relative_to(REPO)} imports from a higher layer: {upward}"


def test_layer_packages_run_no_code():
    """An import of one module runs its package's __init__: they hold a docstring at most,
    so importing a layer adds nothing to a closure."""
    for init in PACKAGE.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        code = [node for node in body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        assert not code, f"{init.relative_to(REPO)} should hold no more than a docstring"


@pytest.mark.parametrize("script", sorted(NOT_REACHED))
def test_rule_closures_hold_only_what_their_work_needs(script):
    reached = closure(script)
    forbidden = sorted(
        m for m in reached for prefix in NOT_REACHED[script] if m == prefix or m.startswith(prefix + ".")
    )
    assert not forbidden, f"workflow/scripts/{script} reaches {forbidden}"


def test_the_closure_table_can_fail():
    """The check above sees what a script reaches: the tables reach the report layer."""
    assert "srstudy.report.tables" in closure("summary_tables.py")
    assert "srstudy.train.loop" in closure("train.py")
    assert "srstudy.train.convergence" in closure("comparison_tables.py")


def test_no_import_cycles():
    graph = {
        module_name(path): {n for n in package_imports(path) if (SCRIPTS / (n.replace(".", "/") + ".py")).exists()}
        for path in PACKAGE.rglob("*.py")
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for child in sorted(graph.get(node, ())):
            if state.get(child) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, child]))
            if child not in state:
                visit(child, [*trail, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_training_names_every_train_module_but_the_verdict():
    """A new module in train/ is training code unless listed here: the tables must not reach it."""
    modules = {module_name(p) for p in (PACKAGE / "train").glob("*.py") if p.name != "__init__.py"}
    assert modules == {*TRAINING, "srstudy.train.convergence"}
