"""The repository describes what is: the README stays a front door (at most 12 KB, depth in ``docs/``),
no project file carries development history such as work-session or issue numbers, and what the docs
point at is there: every file they name, the pages and headings they link, the configuration keys and
``KALSHID_`` variables, the metrics. A failure names the file and line of each dangling reference."""

import re
from pathlib import Path

import pytest

from kalshid.config.rules import leaves
from kalshid.config.sources import CONFIG_PATH_VAR, ENV_TO_KEY, ENVIRONMENT_ONLY, SECTIONS
from kalshid.metrics import Metrics

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


ALL_DOCS = [REPO / "README.md", REPO / "systemd" / "INSTALL.md", *sorted((REPO / "docs").rglob("*.md"))]
CONFIG_TEXTS = [*ALL_DOCS, REPO / "etc" / "kalshid.toml", REPO / "etc" / "env.example",
                REPO / "systemd" / "kalshid.service"]

LINK = re.compile(r"\]\(([^)\s]+)\)")
VARIABLE = re.compile(r"\bKALSHID_[A-Z0-9_]*[A-Z0-9](?:__\*)?")
# the generic spellings the docs use for "any key": KALSHID_SECTION__KEY, KALSHID_A__B__C, KALSHID_RISK__*
VARIABLE_PATTERNS = re.compile(r"KALSHID_(SECTION__KEY|A__B__C|[A-Z]+__\*)$")
METRIC = re.compile(r"`((?:kalshid|process)_[a-z_]+)`")


def located(path: Path, text: str, start: int) -> str:
    return f"{path.relative_to(REPO)}:{text.count(chr(10), 0, start) + 1}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text()
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.MULTILINE)} | set(re.findall(r'<a id="([^"]+)"', text))


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Reconciliation retries, never dies", "reconciliation-retries-never-dies"),
    ("`kalshid ctl`", "kalshid-ctl"),
    ("CPU placement", "cpu-placement"),
])
def test_slug(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_links_between_docs_resolve() -> None:
    broken = []
    for doc in ALL_DOCS:
        text = doc.read_text()
        for m in LINK.finditer(text):
            target = m.group(1)
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists():
                broken.append(f"{located(doc, text, m.start())}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{located(doc, text, m.start())}: {target} (no such heading)")
    assert broken == []


def test_every_kalshid_variable_named_is_one_kalshid_reads() -> None:
    known = {*ENV_TO_KEY, *ENVIRONMENT_ONLY, CONFIG_PATH_VAR}
    unknown = [f"{located(p, text, m.start())}: {m.group()}" for p in CONFIG_TEXTS for text in [p.read_text()]
               for m in VARIABLE.finditer(text) if m.group() not in known and not VARIABLE_PATTERNS.match(m.group())]
    assert "KALSHID_RISK__MAX_DAILY_LOSS" in known
    assert unknown == []


def test_every_configuration_key_named_exists() -> None:
    keys = {leaf.key for leaf in leaves()}
    tops = sorted({s.split(".")[0] for s in SECTIONS})
    named = re.compile(r"(?<![\w/.-])(?:" + "|".join(tops) + r")\.[a-z_][a-z_0-9]*(?:\.[a-z_][a-z_0-9]*)*(?![\w/-])")
    # ``section.file`` spellings that are files, not keys (``api.md``, ``risk.py``), are not keys named
    unknown = [f"{located(p, text, m.start())}: {m.group()}" for p in CONFIG_TEXTS for text in [p.read_text()]
               for m in named.finditer(text)
               if m.group() not in keys and m.group() not in SECTIONS and not m.group().endswith((".md", ".py"))
               and m.group() != "strategies.late_drift"]  # strategies.md's example of a strategy to add
    assert "risk.max_daily_loss" in keys
    assert unknown == []


def test_every_metric_named_is_exported() -> None:
    exported = {sample.name for family in Metrics().registry.collect() for sample in family.samples} | \
        {family.name for family in Metrics().registry.collect()}
    unknown = [f"{located(p, text, m.start())}: {m.group(1)}" for p in ALL_DOCS for text in [p.read_text()]
               for m in METRIC.finditer(text) if m.group(1) not in exported and m.group(1) != "kalshid_docs"]
    assert "kalshid_position_mismatch_markets" in exported
    assert unknown == []
