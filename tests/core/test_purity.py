"""The functional core stays pure: every module of ``kalshid/core`` imports only pure standard
library modules, numpy, scipy, attrs and ``kalshid.core`` itself; it defines no ``async`` code, calls no
I/O builtin and reads no clock (``datetime.now()``, ``date.today()``, ...): time is passed in."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "kalshid" / "core"

# Standard library modules without I/O, clocks or global randomness (zoneinfo reads the time-zone
# database, which is data, not state: a ticker's US Eastern close depends on it).
PURE_STDLIB = frozenset({
    "__future__", "abc", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal", "enum",
    "fractions", "functools", "heapq", "itertools", "math", "numbers", "operator", "re", "statistics",
    "string", "types", "typing", "zoneinfo",
})
THIRD_PARTY = frozenset({"numpy", "scipy", "attrs", "attr"})
ALLOWED_ROOTS = PURE_STDLIB | THIRD_PARTY
CLOCK_CALLS = frozenset({"now", "utcnow", "today"})
CLOCK_OWNERS = frozenset({"datetime", "date", "dt"})
IO_BUILTINS = frozenset({"open", "print", "input", "breakpoint", "exec", "eval", "compile", "__import__"})


def _import_problem(module: str) -> str | None:
    """Why importing ``module`` (absolute, dotted) is not allowed in the core, or None if it is."""
    if module == "kalshid.core" or module.startswith("kalshid.core."):
        return None
    if module.split(".")[0] in ALLOWED_ROOTS:
        return None
    return f"imports {module}"


def violations(source: str) -> list[str]:
    """Every impurity in ``source``, as ``"line N: what"``, in source order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        problems: list[str] = []
        if isinstance(node, ast.Import):
            problems = [p for alias in node.names if (p := _import_problem(alias.name))]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            problems = [p for p in [_import_problem(node.module)] if p]
        elif isinstance(node, ast.AsyncFunctionDef):
            problems = [f"defines async def {node.name}"]
        elif isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith):
            problems = [f"uses {type(node).__name__.lower()}"]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in IO_BUILTINS:
                problems = [f"calls {func.id}()"]
            elif (isinstance(func, ast.Attribute) and func.attr in CLOCK_CALLS
                  and ast.unparse(func.value).split(".")[-1] in CLOCK_OWNERS):
                # datetime.now(), datetime.datetime.utcnow(), dt.date.today(), ...
                problems = [f"calls {ast.unparse(func.value)}.{func.attr}()"]
        found += [(getattr(node, "lineno", 0), p) for p in problems]
    return [f"line {line}: {what}" for line, what in sorted(found)]


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_exists() -> None:
    assert (CORE / "units.py") in core_files()
    assert (CORE / "strategies" / "base.py") in core_files()


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_is_pure(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(("source", "expected"), [
    # event loop, network, web, database, logging: anything outside the allow-list
    ("import trio", ["line 1: imports trio"]),
    ("from httpx import AsyncClient", ["line 1: imports httpx"]),
    ("import quart_trio.app", ["line 1: imports quart_trio.app"]),
    ("import structlog", ["line 1: imports structlog"]),
    ("import cattrs", ["line 1: imports cattrs"]),
    # I/O and clock modules of the standard library
    ("import time as t", ["line 1: imports time"]),
    ("import os, math", ["line 1: imports os"]),
    ("import io", ["line 1: imports io"]),
    ("import socket", ["line 1: imports socket"]),
    ("import sqlite3", ["line 1: imports sqlite3"]),
    ("from pathlib import Path", ["line 1: imports pathlib"]),
    ("import random", ["line 1: imports random"]),
    ("import logging", ["line 1: imports logging"]),
    ("import timeit", ["line 1: imports timeit"]),
    # the rest of kalshid is the shell
    ("from kalshid.exchange.types import Side", ["line 1: imports kalshid.exchange.types"]),
    ("import kalshid.store", ["line 1: imports kalshid.store"]),
    ("from kalshid.core.units import CC_PER_DOLLAR", []),
    ("import kalshid.core.strategies.base", []),
    ("from . import units", []),
    ("from .strategies import base", []),
    ("from __future__ import annotations", []),
    ("import numpy as np\nfrom scipy.stats import norm\nimport attrs", []),
    ("from collections.abc import Mapping\nfrom zoneinfo import ZoneInfo", []),
    # clock reads
    ("import datetime\nx = datetime.datetime.now()", ["line 2: calls datetime.datetime.now()"]),
    ("from datetime import datetime\nx = datetime.utcnow()", ["line 2: calls datetime.utcnow()"]),
    ("import datetime as dt\nx = dt.date.today()", ["line 2: calls dt.date.today()"]),
    ("import datetime\nx = datetime.timedelta(seconds=1)", []),
    ("from datetime import datetime\nx = datetime.fromtimestamp(0.0, tz=None)", []),
    # async code
    ("async def f():\n    pass", ["line 1: defines async def f"]),
    ("def f():\n    pass", []),
    # I/O builtins
    ("x = open('f')", ["line 1: calls open()"]),
    ("print('x')", ["line 1: calls print()"]),
    ("x = self.open_position()", []),
])
def test_checker_catches_what_it_should(source: str, expected: list[str]) -> None:
    assert violations(source) == expected


def test_checker_finds_await_inside_async_code() -> None:
    source = "async def f(c):\n    async with c:\n        await c.g()\n    async for x in c:\n        pass"
    assert violations(source) == ["line 1: defines async def f", "line 2: uses asyncwith",
                                  "line 3: uses await", "line 4: uses asyncfor"]
