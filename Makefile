# Two commands from nothing but python3 and make: `make run` and `make test`.
# Installs come from requirements.lock, the exact versions the suite passed with; `make lock` refreshes it
# from pyproject.toml (docs/development.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
PIP    := $(PY) -m pip --quiet --disable-pip-version-check
# The installer and the lock tool are pinned too: pip-tools supports a narrow range of pip releases.
PIP_PIN      := pip==26.3
PIPTOOLS_PIN := pip-tools==7.7.0

.PHONY: run test test-fast lint sim bench clean install lock

# Prints the requirements named in pyproject.toml (dependencies and the dev extra) that the lock lacks.
define LOCK_GAPS
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = project["dependencies"] + project.get("optional-dependencies", {}).get("dev", [])
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
names = {norm(re.match(r"[A-Za-z0-9._-]+", r.strip()).group()) for r in wanted}
locked = {norm(line.split("==")[0].split("[")[0]) for line in open(sys.argv[1]) if "==" in line and line[0].isalnum()}
print(" ".join(sorted(names - locked)))
endef
export LOCK_GAPS

# The venv is (re)installed only when pyproject.toml or the lock changes, so repeated runs are quick.
# A lock that lacks a package pyproject.toml names (e.g. right after a merge) still installs, with the lock
# as constraints, and says to run `make lock`.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kalshid needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install '$(PIP_PIN)'
	@$(PIP) install -r $(LOCK)
	@gaps="$$($(PY) -c "$$LOCK_GAPS" $(LOCK))"; \
	if [ -n "$$gaps" ]; then \
	  echo "warning: $(LOCK) lacks $$gaps; installing them unpinned. Run 'make lock' and commit $(LOCK)." >&2; \
	  $(PIP) install -c $(LOCK) -e '.[dev]'; \
	else \
	  $(PIP) install --no-deps -e .; \
	fi
	@$(PIP) check
	@touch $(STAMP)

install: $(STAMP)

# Re-resolves pyproject.toml (dependencies + dev extra) for this Python into $(LOCK), keeping every pin
# that still satisfies it; `make lock UPGRADE=1` moves every package to its newest allowed release.
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install '$(PIP_PIN)' '$(PIPTOOLS_PIN)'
	$(PY) -m piptools compile --quiet --strip-extras --extra dev --no-emit-index-url --no-emit-find-links \
	  $(if $(UPGRADE),--upgrade) --output-file $(LOCK) pyproject.toml

run: $(STAMP)
	$(VENV)/bin/kalshid run $(ARGS)

sim: $(STAMP)
	$(VENV)/bin/kalshid sim $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

# The inner loop: everything but the end-to-end tests marked `slow` (processes, long simulated runs).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check kalshid tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
