"""The package's import structure: no import cycle between modules, and no import pointing up a layer.

Every import counts, wherever it is written: at the top of a module, inside a function (a late
import hides a cycle from Python, not from the design) or under ``if TYPE_CHECKING:``. The layers,
lowest first, are declared in :data:`LAYERS` and explained in ``docs/architecture.md``; a module may
import from its own layer or any layer below it. A module no rule names fails the test, so a new
package gets a place in the order when it is added.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A rule is a module name (it covers the module and everything under it) or a pattern
# with ``*``; the longest rule that matches a module decides its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("kalshid.core",)),
    ("support", ("kalshid", "kalshid.threads", "kalshid.metrics", "kalshid.data")),
    ("adapters", ("kalshid.logs", "kalshid.config", "kalshid.credentials", "kalshid.exchange", "kalshid.store")),
    ("engines", ("kalshid.sim", "kalshid.research")),
    ("daemon", ("kalshid.daemon",)),
    ("operator", ("kalshid.control", "kalshid.server", "kalshid.alerts")),
    ("trading", ("kalshid.trading",)),
    ("commands", ("kalshid.cli", "kalshid.__main__", "kalshid.research.cli_*")),
)


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``root``, by dotted name (a package by its own name)."""
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _owner(name: str, modules: Mapping[str, Path]) -> str | None:
    """The module that defines ``name`` (a module, or an attribute of one)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            names.extend(f"{source}.{alias.name}" for alias in node.names)
    found = {_owner(name, modules) for name in names}
    return {m for m in found if m is not None and m != module}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports anywhere in its text."""
    modules = module_files(root, package)
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _matches(rule: str, module: str) -> bool:
    if "*" in rule:
        return fnmatchcase(module, rule)
    return module == rule or module.startswith(rule + ".")


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int | None:
    """The position in ``layers`` of the longest rule matching ``module``; None when none does."""
    best: tuple[int, int] | None = None
    for position, (_, rules) in enumerate(layers):
        for rule in rules:
            if _matches(rule, module) and (best is None or len(rule) > best[0]):
                best = (len(rule), position)
    return None if best is None else best[1]


def upward_imports(graph: Mapping[str, Iterable[str]],
                   layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> list[str]:
    """Each import from a module to a module of a higher layer, as ``a (layer) -> b (layer)``."""
    out = []
    for module in sorted(graph):
        mine = layer_of(module, layers)
        for target in sorted(graph[module]):
            theirs = layer_of(target, layers)
            if mine is not None and theirs is not None and theirs > mine:
                out.append(f"{module} ({layers[mine][0]}) -> {target} ({layers[theirs][0]})")
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT, "kalshid")


def test_no_module_imports_itself_back(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    assert [m for m in sorted(graph) if layer_of(m) is None] == []


def test_no_import_points_up_a_layer(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_the_checks_see_late_and_type_only_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "low").mkdir(parents=True)
    (pkg / "high").mkdir()
    for init in (pkg / "__init__.py", pkg / "low" / "__init__.py", pkg / "high" / "__init__.py"):
        init.write_text("")
    (pkg / "low" / "a.py").write_text("def f():\n    from pkg.high.b import g\n    return g\n")
    (pkg / "high" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.low import a\ndef g(): ...\n")
    (pkg / "high" / "c.py").write_text("from .b import g\nfrom ..low.a import f\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.low.a"] == {"pkg.high.b"}
    assert graph["pkg.high.b"] == {"pkg.low.a"}
    assert graph["pkg.high.c"] == {"pkg.high.b", "pkg.low.a"}
    assert cycles(graph) == [["pkg.high.b", "pkg.low.a"]]
    layers = (("low", ("pkg", "pkg.low")), ("high", ("pkg.high", "pkg.high.c*")))
    assert upward_imports(graph, layers) == ["pkg.low.a (low) -> pkg.high.b (high)"]
    assert layer_of("pkg.high.c", layers) == 1 and layer_of("other", layers) is None
