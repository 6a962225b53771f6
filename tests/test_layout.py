"""Tests mirror the package: every ``tests/<room>/`` is a room (package) of ``kalshid/``, and every test
file at the top of ``tests/`` is named for a top-level module (``test_cli_*.py`` tests ``kalshid/cli.py``).

The few exceptions are listed here with their reason.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "kalshid"

# tests/<path> that is not kalshid/<path>, and why
ROOM_EXCEPTIONS = {
    "dashboard": "browser tests (-m browser) of the dashboard a running daemon serves (kalshid/server/)",
}
# top-level test files that are not about one module, and why
FILE_EXCEPTIONS = {
    "test_layers.py": "the package's import graph: no cycle, no import pointing up a layer",
    "test_layout.py": "this check",
    "test_repository_text.py": "the repository's text: README size, no development history, no machine paths",
}


def _rooms() -> list[str]:
    return sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("*")
                  if p.is_dir() and "__pycache__" not in p.parts and any(p.glob("test_*.py")))


def test_every_test_room_is_a_package_room() -> None:
    strays = [room for room in _rooms()
              if not (PACKAGE / room / "__init__.py").is_file()
              and not any(room == e or room.startswith(e + "/") for e in ROOM_EXCEPTIONS)]
    assert not strays, f"tests/<room> must mirror kalshid/<room> (or be listed in ROOM_EXCEPTIONS): {strays}"


def test_every_top_level_test_file_names_a_module() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    strays = [f.name for f in sorted(TESTS.glob("test_*.py"))
              if f.name not in FILE_EXCEPTIONS
              and not any(f.stem == f"test_{m}" or f.stem.startswith(f"test_{m}_") for m in modules)]
    assert not strays, f"tests/test_<module>*.py must name a module kalshid/<module>.py: {strays}"


def test_the_exceptions_still_exist() -> None:
    rooms = _rooms()
    assert all(any(r == e or r.startswith(e + "/") for r in rooms) for e in ROOM_EXCEPTIONS), ROOM_EXCEPTIONS
    assert all((TESTS / name).is_file() for name in FILE_EXCEPTIONS), FILE_EXCEPTIONS
