"""The repository describes what is: the README stays a front door (at most 12 KB, depth in ``docs/``),
no project file carries development history such as work-session or issue numbers, and every file the
docs name is there."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README_MAX_BYTES = 12 * 1024
TEXT_DIRS = ("kalshid", "tests", "bench", "docs", "etc", "systemd")
TEXT_SUFFIXES = frozenset({".py", ".md", ".toml", ".service", ".example", ".txt"})
# Assembled from parts so this file does not match itself.
HISTORY = re.compile(r"\b" + "ses" + r"sions? \d+\b|\b" + "iss" + r"ues? #\d+", re.IGNORECASE)


def history_lines(text: str) -> list[str]:
    """Every line of ``text`` that mentions a work session or an issue by number, as ``"N: line"``."""
    return [f"{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if HISTORY.search(line)]


def project_files() -> list[Path]:
    found = [REPO / "README.md", REPO / "Makefile", REPO / "pyproject.toml"]
    for top in TEXT_DIRS:
        found += [p for p in (REPO / top).rglob("*") if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts]
    return sorted(p for p in found if p.is_file())


def test_readme_is_a_front_door() -> None:
    readme = REPO / "README.md"
    assert readme.stat().st_size <= README_MAX_BYTES, f"{readme} is over {README_MAX_BYTES} bytes: move depth to docs/"
    assert (REPO / "docs" / "README.md").is_file()


def test_no_development_history_in_project_files() -> None:
    files = project_files()
    assert REPO / "kalshid" / "core" / "units.py" in files
    problems = {str(p.relative_to(REPO)): lines for p in files if (lines := history_lines(p.read_text()))}
    assert problems == {}


@pytest.mark.parametrize(("text", "found"), [
    ("see " + "session" + " 9 for the figures", True),
    ("Sessions" + " 7 and 8", True),
    ("fixes " + "issue" + " #6", True),
    ("a TLS session ticket", False),
    ("PKCS#8 key, order #3", False),
])
def test_history_pattern(text: str, found: bool) -> None:
    assert bool(history_lines(text)) is found


# `path` in the operator and developer docs that names a file of this repository
NAMED_PATH = re.compile(r"`((?:kalshid|tests|bench|etc|systemd|docs)/[A-Za-z0-9_./-]+)`")
# named in the docs but not in the repository, and why
NAMED_ELSEWHERE = {
    "kalshid/core/strategies/late_drift.py": "docs/strategies.md's example of a strategy to add",
}


def named_paths(text: str) -> set[str]:
    """Every repository path ``text`` names in backticks (``kalshid/...``, ``tests/...``, ...)."""
    return {m.group(1).rstrip("./") for m in NAMED_PATH.finditer(text)}


def test_every_file_the_docs_name_exists() -> None:
    docs = [REPO / "README.md", REPO / "systemd" / "INSTALL.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = {f"{doc.relative_to(REPO)}: {path}" for doc in docs for path in named_paths(doc.read_text())
               if path not in NAMED_ELSEWHERE and not (REPO / path).exists()}
    assert missing == set()


def test_named_paths_pattern() -> None:
    text = "see `tests/daemon/test_x.py`, `kalshid/server/static/` and `var/api-token`, not `etc`."
    assert named_paths(text) == {"tests/daemon/test_x.py", "kalshid/server/static"}
