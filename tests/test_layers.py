"""The layers of ARCHITECTURE.md, read off the source: every import points down, none goes round.

An AST walk over ``classifiers/``, ``records.py``, ``training/`` and ``router/`` collects every
import between first-party modules, wherever it sits (module level, inside a function, under
``TYPE_CHECKING``: a lazy import is still a dependency). Each module belongs to the unit of its
longest matching prefix in ``LAYERS``; a unit may import its own modules and any unit on a lower
level, never one on its own level or above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("classifiers", "records.py", "training", "router")

# Lowest first. Units on one level are peers and may not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("classifiers",),
    ("records",),
    ("training",),
    ("router.core",),  # router/__init__.py, router/settings.py, router/errors.py
    ("router.decision", "router.access"),
    ("router.upstream", "router.log"),
    ("router.ops",),  # simulation, tuning, admin actions and audit, shadow policy
    ("router.service",),
    ("router.cli",),
)
ROUTER_CORE = frozenset({"router", "router.settings", "router.errors"})
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}

Edge = tuple[str, str, str, int]  # importer, imported, file, line


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for name in SOURCES:
        path = ROOT / name
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def unit_of(module: str) -> str | None:
    if module in ROUTER_CORE:
        return "router.core"
    matches = [unit for unit in LEVEL if module == unit or module.startswith(unit + ".")]
    return max(matches, key=len, default=None)


def imported_modules(node: ast.AST, importer: str, is_package: bool, known: set[str]) -> list[str]:
    """First-party modules an import statement loads (the nearest known module of each name)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = importer.split(".") if is_package else importer.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" for alias in node.names] + [base]
    else:
        return []
    found = []
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != importer:
            found.append(name)
    return sorted(set(found))


def import_edges() -> list[Edge]:
    files = {module_name(path): path for path in source_files()}
    known = set(files)
    edges = []
    for importer, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for imported in imported_modules(node, importer, path.name == "__init__.py", known):
                edges.append((importer, imported, str(path.relative_to(ROOT)), node.lineno))
    return edges


def upward(edge: Edge) -> str | None:
    importer, imported, file, line = edge
    source, target = unit_of(importer), unit_of(imported)
    if source is None or target is None or source == target or LEVEL[target] < LEVEL[source]:
        return None
    relation = "a peer of" if LEVEL[target] == LEVEL[source] else "a layer above"
    return f"{file}:{line}: {importer} imports {imported}, but {target} is {relation} {source}"


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for importer, imported, _, _ in edges:
        graph.setdefault(importer, set()).add(imported)
        graph.setdefault(imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    modules = {module_name(path) for path in source_files()}

    assert {module for module in modules if unit_of(module) is None} == set()
    assert len(modules) > 60  # the walk found the source tree


def test_the_walk_sees_imports_wherever_they_are() -> None:
    pairs = {(importer, imported) for importer, imported, _, _ in import_edges()}

    assert ("router.service.app", "router.log.decision_log") in pairs  # module level
    assert ("router.cli.models", "training.retrain") in pairs  # inside a function
    assert ("classifiers.artifacts.manifest", "classifiers.encoder") in pairs  # TYPE_CHECKING


def test_no_import_points_up_the_layers() -> None:
    assert [problem for edge in import_edges() if (problem := upward(edge))] == []


def test_no_modules_import_each_other_round_a_cycle() -> None:
    assert cycles(import_edges()) == []
