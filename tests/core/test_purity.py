"""The functional core stays pure: no event loop, network, web, database, logging or clock imports,
and no ``datetime.now()`` / ``utcnow()`` / ``today()`` calls (time is passed in; STYLE.md)."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "kalshid" / "core"
FORBIDDEN_MODULES = frozenset({
    "trio", "httpx", "quart", "quart_trio", "hypercorn", "sqlite3", "trio_websocket", "structlog", "time",
})
CLOCK_CALLS = frozenset({"now", "utcnow", "today"})


def violations(source: str) -> list[str]:
    """Every forbidden import or clock read in ``source``, as ``"line N: what"``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in CLOCK_CALLS):
            # datetime.now(), datetime.datetime.utcnow(), dt.date.today(), ...
            target = ast.unparse(node.func.value)
            if target.split(".")[-1] in ("datetime", "date", "dt"):
                found.append(f"line {node.lineno}: calls {target}.{node.func.attr}()")
            continue
        else:
            continue
        found += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
    return found


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_exists() -> None:
    assert (CORE / "units.py") in core_files()


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_is_pure(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(("source", "expected"), [
    ("import trio", ["line 1: imports trio"]),
    ("import time as t", ["line 1: imports time"]),
    ("from httpx import AsyncClient", ["line 1: imports httpx"]),
    ("import quart_trio.app", ["line 1: imports quart_trio.app"]),
    ("import datetime\nx = datetime.datetime.now()", ["line 2: calls datetime.datetime.now()"]),
    ("from datetime import datetime\nx = datetime.utcnow()", ["line 2: calls datetime.utcnow()"]),
    ("import datetime as dt\nx = dt.date.today()", ["line 2: calls dt.date.today()"]),
    ("import datetime\nx = datetime.timedelta(seconds=1)", []),
    ("from . import time", []),  # a relative import of a sibling module, not the stdlib clock
    ("import timeit", []),
])
def test_checker_catches_what_it_should(source: str, expected: list[str]) -> None:
    assert violations(source) == expected
