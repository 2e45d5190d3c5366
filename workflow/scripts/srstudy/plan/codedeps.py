"""Which package modules a rule's script runs: its ``srstudy`` imports, followed through
the package recursively. They are the rules' code inputs, so that a code change reruns
exactly the jobs whose code it changes (Snakemake itself only sees the script file)."""

import ast
import os
from functools import cache
from pathlib import Path

PACKAGE = "srstudy"


def _module_name(path: Path, scripts_dir: Path) -> str:
    parts = path.relative_to(scripts_dir).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache  # every rule's closure shares most modules: parse each file once
def _imported_names(path: Path, scripts_dir: Path) -> frozenset[str]:
    """Dotted names a file imports (``from a import b`` gives ``a`` and ``a.b``: b may
    be a module); relative imports are resolved against the file's package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path, scripts_dir).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in names if name == PACKAGE or name.startswith(PACKAGE + "."))


def _module_file(name: str, scripts_dir: Path) -> Path | None:
    """The file of a package module or package, None for a name inside a module."""
    base = scripts_dir.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def import_closure(script: Path, scripts_dir: Path) -> tuple[Path, ...]:
    """Every package file ``script`` imports, directly or through another package module
    (packages' ``__init__.py`` included: importing a module runs them), sorted."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in _imported_names(todo.pop(), scripts_dir):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # the packages above it run first
                found = _module_file(".".join(parts[:depth]), scripts_dir)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return tuple(sorted(seen))


def run_jobs_with_package(scripts_dir: str | os.PathLike) -> None:
    """Make the jobs this process starts import the package from ``scripts_dir``:
    Snakemake appends a script's folder to ``sys.path``, after site-packages, so an
    installed copy (another checkout's editable install) would win without this."""
    current = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(scripts_dir), *([current] if current else [])])


def code_inputs(script: str | os.PathLike, scripts_dir: str | os.PathLike, start: str | os.PathLike = ".") -> list[str]:
    """The package files ``script`` runs, as paths relative to ``start`` (the working
    directory: Snakemake records inputs as given, so relative paths keep a copied
    project, results included, up to date)."""
    scripts_dir = Path(scripts_dir).resolve()
    closure = import_closure(Path(script).resolve(), scripts_dir)
    return [os.path.relpath(path, Path(start).resolve()) for path in closure]
