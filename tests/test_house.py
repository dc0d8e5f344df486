"""Guards for the shape of the house: faces use the door, imports point one way, rooms are small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "marketbrief"
FACES = ("web", "cli")
# The results core's private wiring and the store's implementation: faces reach both only
# through `Results` (and `services`), never directly.
BEHIND_THE_DOOR = ("marketbrief.results.deps", "marketbrief.store.sql", "marketbrief.store.engine")
MAX_MODULE_LINES = 400
MAX_TOP_LEVEL_MODULES = 8


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The marketbrief modules a file imports (a `from package import name` names a submodule
    when there is one, else the package itself)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("marketbrief"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("marketbrief"):
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _attribute_uses(path: Path, attribute: str) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == attribute
    ]


@pytest.mark.parametrize("face", FACES)
def test_the_faces_reach_reports_and_runs_only_through_the_door(face: str) -> None:
    graph = _graph()
    offenders = {
        name: sorted(graph[name] & set(BEHIND_THE_DOOR))
        for name in graph
        if name.startswith(f"marketbrief.{face}.") and graph[name] & set(BEHIND_THE_DOOR)
    }
    assert offenders == {}
    touching_deps = {
        str(path.relative_to(SRC)): lines
        for path in (PACKAGE / face).rglob("*.py")
        if (lines := _attribute_uses(path, "deps"))
    }
    assert touching_deps == {}


def test_nothing_outside_the_results_core_and_the_composition_root_touches_deps() -> None:
    allowed = {PACKAGE / "services.py", *(PACKAGE / "results").rglob("*.py")}
    touching = {
        str(path.relative_to(SRC)): lines
        for path in PACKAGE.rglob("*.py")
        if path not in allowed and (lines := _attribute_uses(path, "deps"))
    }
    assert touching == {}


def test_no_two_modules_import_each_other_even_through_others() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_no_private_name_crosses_a_module_boundary() -> None:
    crossing = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("marketbrief"):
                crossing += [
                    f"{path.relative_to(SRC)}: {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert crossing == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(SRC)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_the_top_level_holds_only_the_shared_nouns_and_the_composition_root() -> None:
    # `config` and `calendar` are packages (config/groups.py: its nested settings groups;
    # calendar/xnys.py: the exchange schedule, built in a child process): still one noun each.
    assert (PACKAGE / "config" / "__init__.py").is_file()
    assert (PACKAGE / "calendar" / "__init__.py").is_file()
    top = sorted([path.stem for path in PACKAGE.glob("*.py")] + ["config", "calendar"])
    assert len(top) <= MAX_TOP_LEVEL_MODULES
    assert top == ["__init__", "breaker", "calendar", "config", "errors", "models", "services"]
