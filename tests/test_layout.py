"""The layout's rules, checked on the source: where a module may import from, and how big it may grow.

The README's "Layout" section describes the packages; these tests keep the tree true to it:
imports only go down the layers, no module imports another's private names, there is no import
cycle, ``core`` never needs Streamlit, and no module outgrows what a reader can hold in mind.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "ui", "web")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

# Lower layers never import higher ones. Same rank: no imports between them.
LAYERS: dict[str, int] = {
    "core.config": 0,
    "core.fields": 0,
    "core.calendar": 0,
    "core.csv_format": 1,
    "core.store": 1,
    "core.state": 1,
    "core.speed": 2,
    "core.query": 3,
    "core.stats": 4,
    "core.export": 4,
    "core.auth": 5,
    "core.cli": 6,
    "web": 7,
    "ui": 8,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic's own files, loaded by Alembic
            found[_module_name(path)] = path
    return found


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(), filename=str(modules()[name]))


def imports(name: str) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) of every import in ``name``, at any depth."""
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names], node.lineno


def layer_of(module: str) -> tuple[str, int] | None:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    return None


def test_core_never_imports_streamlit_or_the_ui() -> None:
    offenders = [
        f"{name}:{line} imports {target}"
        for name in modules()
        if name.startswith("core")
        for target, _, line in imports(name)
        if target.split(".")[0] in ("streamlit", "streamlit_authenticator", "ui", "web")
    ]
    assert offenders == []


def test_imports_only_go_down_the_layers() -> None:
    offenders = []
    for name in modules():
        own = layer_of(name)
        if own is None:
            continue
        for target, _, line in imports(name):
            other = layer_of(target)
            if other is None or other[0] == own[0]:
                continue
            if other[1] >= own[1]:
                offenders.append(f"{name}:{line} imports {target} ({own[0]} may not use {other[0]})")
    assert offenders == []


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = [
        f"{name}:{line} takes {', '.join(n for n in names if n.startswith('_'))} from {target}"
        for name in modules()
        for target, names, line in imports(name)
        if target in modules() and any(n.startswith("_") and not n.startswith("__") for n in names)
    ]
    assert offenders == []


def test_there_is_no_import_cycle() -> None:
    graph = {
        name: {target for target, _, _ in imports(name) if target in modules() and target != name}
        for name in modules()
    }
    # Packages' __init__ modules that only re-export are part of what they import.
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_each_module_stays_small_enough_to_read_whole(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines; split it by job"


def test_no_function_is_longer_than_a_screenful_or_two() -> None:
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name in modules()
        for node in ast.walk(tree(name))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
