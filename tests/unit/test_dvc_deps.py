"""dvc.yaml's deps and params are proven from the code, not remembered.

For every stage, the library modules its script imports (transitively, including imports
inside functions) must be exactly the ``src/tsforge`` files the stage lists in ``deps``:
a module missing there means a change to it leaves a stale output that ``dvc status``
calls up to date. The stage's ``params`` must name keys that exist in params.yaml and
cover the sections the script reads.

Only ``ast`` and ``yaml`` are used, so the test runs in well under a second.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "tsforge"
SRC = ROOT / "src"
PACKAGE_DIR = SRC / PACKAGE
# Sections a script may read without listing them: they route logging, not outputs.
UNTRACKED_SECTIONS = {"tracking"}


@cache
def dvc_stages() -> dict[str, dict[str, Any]]:
    """The stages of dvc.yaml."""
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@cache
def params_yaml() -> dict[str, Any]:
    """params.yaml as plain data."""
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def module_file(name: str) -> Path | None:
    """The file of dotted module ``name`` inside the package, or None if it is not one."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, at any depth, except ``if TYPE_CHECKING:`` ones."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child):
            # Annotations only: never executed, so not a dependency. The else branch runs.
            for orelse in child.orelse:
                yield from _runtime_imports(ast.Module(body=[orelse], type_ignores=[]))
        else:
            yield from _runtime_imports(child)


def _parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_modules(path: Path) -> set[str]:
    """Dotted names of the package modules that ``path`` imports directly.

    Args:
        path: A Python file (a stage script or a package module).

    Returns:
        Names whose file exists under ``src/tsforge``, package ``__init__`` included.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = _module_name(path) if path.is_relative_to(SRC) else ""
    names: set[str] = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.update(_parents(alias.name))
            continue
        if node.level:  # relative: resolve against the importing module's package
            package = own if path.name == "__init__.py" else own.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        names.update(_parents(base))
        # `from tsforge import stage` imports the submodule; `from tsforge.x import f` a name.
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if module_file(name) is not None}


def _counts(path: Path) -> bool:
    """Whether a file's contents can change behaviour: a docstring-only ``__init__`` cannot."""
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return not all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body)


def import_closure(script: Path) -> set[str]:
    """The ``src/tsforge`` files ``script`` runs, directly or through other package modules.

    Args:
        script: A stage script.

    Returns:
        Paths relative to the project root, as dvc.yaml spells them.
    """
    seen: set[str] = set()
    todo = sorted(imported_modules(script))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = module_file(name)
        assert file is not None
        todo.extend(imported_modules(file) - seen)
    files = [module_file(name) for name in seen]
    return {f.relative_to(ROOT).as_posix() for f in files if f is not None and _counts(f)}


def stage_names() -> list[str]:
    """Every stage in dvc.yaml (parametrises the tests)."""
    return list(dvc_stages())


def _deps(stage: str) -> list[str]:
    return [str(d) for d in dvc_stages()[stage].get("deps", [])]


@pytest.mark.parametrize("stage", stage_names())
def test_stage_runs_its_script_and_lists_it(stage: str) -> None:
    script = f"pipelines/{stage}.py"
    assert (ROOT / script).is_file(), f"dvc.yaml stage {stage!r}: no script {script}"
    assert script in dvc_stages()[stage]["cmd"], f"dvc.yaml stage {stage!r}: cmd does not run {script}"
    assert script in _deps(stage), f"dvc.yaml stage {stage!r}: add {script} to its deps"


def _changes(missing: list[str], extra: list[str]) -> str:
    """What to add to and remove from a dvc.yaml list, as one phrase."""
    parts = [f"add {', '.join(missing)}" if missing else "", f"remove {', '.join(extra)}" if extra else ""]
    return "; ".join(part for part in parts if part)


@pytest.mark.parametrize("stage", stage_names())
def test_stage_deps_are_exactly_its_import_closure(stage: str) -> None:
    expected = import_closure(ROOT / "pipelines" / f"{stage}.py")
    listed = {d for d in _deps(stage) if d.startswith(PACKAGE_DIR.relative_to(ROOT).as_posix() + "/")}
    missing, extra = sorted(expected - listed), sorted(listed - expected)
    assert not (missing or extra), (
        f"dvc.yaml stage {stage!r}: deps do not match the modules pipelines/{stage}.py imports "
        f"(directly or through other tsforge modules). Edit dvc.yaml: {_changes(missing, extra)}"
    )


def test_closure_follows_imports_inside_functions_and_through_modules() -> None:
    # scale imports panel, which imports windowing; stage imports tracking inside a function.
    closure = import_closure(ROOT / "pipelines" / "scale.py")
    assert {"src/tsforge/panel.py", "src/tsforge/windowing.py", "src/tsforge/tracking.py"} <= closure


def test_relative_and_dotted_imports_are_resolved(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import tsforge.errors\nfrom tsforge import config as c, no_such_name\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tsforge import search\n"
        "def f():\n    from tsforge.scaling import Split\n",
        encoding="utf-8",
    )
    assert imported_modules(script) == {"tsforge", "tsforge.errors", "tsforge.config", "tsforge.scaling"}


def _params_entries(stage: str) -> list[str]:
    entries = []
    for entry in dvc_stages()[stage].get("params", []):
        # A dict entry names another params file; this project keeps everything in params.yaml.
        assert isinstance(entry, str), f"dvc.yaml stage {stage!r}: params entry {entry!r} is not a key"
        entries.append(entry)
    return entries


def _has_key(data: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


@pytest.mark.parametrize("stage", stage_names())
def test_stage_params_name_existing_keys(stage: str) -> None:
    unknown = [e for e in _params_entries(stage) if not _has_key(params_yaml(), e)]
    assert not unknown, f"dvc.yaml stage {stage!r}: params {unknown} are not keys of params.yaml"


def _reads_params(node: ast.expr) -> bool:
    """Whether ``node`` is ``params`` or ``load_params(...)``: the parsed params.yaml."""
    if isinstance(node, ast.Name):
        return node.id == "params"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "load_params"
    )


def sections_read(script: Path) -> set[tuple[str, str | None]]:
    """``(section, key)`` pairs a script reads from its params; key None for a whole section.

    Args:
        script: A stage script.

    Returns:
        The pairs, from ``params.<section>[.<key>]`` and ``load_params(...).<section>``.
    """
    tree = ast.parse(script.read_text(encoding="utf-8"))
    inner: set[int] = set()
    reads: set[tuple[str, str | None]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            section = node.value
            if _reads_params(section.value):
                reads.add((section.attr, node.attr))
                inner.add(id(section))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner and _reads_params(node.value):
            reads.add((node.attr, None))
    return {(s, k) for s, k in reads if s in params_yaml()}


@pytest.mark.parametrize("stage", stage_names())
def test_stage_params_cover_the_sections_its_script_reads(stage: str) -> None:
    entries = _params_entries(stage)
    uncovered = []
    # The script and its stage module (tsforge.stages.<stage>, where the script hands params on).
    readers = [ROOT / "pipelines" / f"{stage}.py", PACKAGE_DIR / "stages" / f"{stage}.py"]
    reads = set().union(*(sections_read(path) for path in readers if path.is_file()))
    for section, key in sorted(reads, key=str):
        if section in UNTRACKED_SECTIONS or section in entries:
            continue
        if key is not None and f"{section}.{key}" in entries:
            continue
        # A whole section handed to the library: some of its keys must be listed.
        if key is None and any(e.startswith(section + ".") for e in entries):
            continue
        uncovered.append(section if key is None else f"{section}.{key}")
    assert not uncovered, (
        f"dvc.yaml stage {stage!r}: pipelines/{stage}.py (or tsforge/stages/{stage}.py) reads {uncovered} "
        "from params.yaml but the "
        "stage's params do not list them. Edit dvc.yaml."
    )


def execution_only() -> tuple[str, ...]:
    """``EXECUTION_ONLY`` read with ast (importing the tuning code would load TensorFlow)."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign) and node.value is not None
                else []
            )
            if any(isinstance(t, ast.Name) and t.id == "EXECUTION_ONLY" for t in targets):
                assert isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
                found.append(tuple(ast.literal_eval(node.value)))
    assert len(found) == 1, f"expected one EXECUTION_ONLY in src/tsforge, found {len(found)}"
    return found[0]


def test_tune_params_are_every_tune_key_but_execution_only() -> None:
    expected = {f"tune.{k}" for k in params_yaml()["tune"] if k not in execution_only()}
    listed = set(_params_entries("tune"))
    missing, extra = sorted(expected - listed), sorted(listed - expected)
    assert not (missing or extra), (
        "dvc.yaml stage 'tune': params must be every tune key except tsforge.search.EXECUTION_ONLY "
        f"{execution_only()}. Edit dvc.yaml: {_changes(missing, extra)}"
    )
