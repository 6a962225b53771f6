"""Checks of a loaded configuration against this machine, made before anything starts.

The loader judges values on their own (:mod:`kalshid.config.loader`); some values are only right or
wrong here: a CPU this process may use, a file that must be readable, a directory a file is created
in. :func:`machine_problems` reports them as :class:`~kalshid.config.sources.Problem` lines naming the
key, the value and where it came from, so ``kalshid run`` refuses them as it refuses a bad value
(exit 2, nothing started) instead of failing later, half started.
"""

from __future__ import annotations

import os
from pathlib import Path

from kalshid.config.loader import LoadedConfig
from kalshid.config.sources import Problem


def machine_problems(loaded: LoadedConfig) -> list[Problem]:
    """What in ``loaded`` this machine cannot honour; empty when everything can be."""
    cfg, sources = loaded.config, loaded.sources
    out: list[Problem] = []
    cpu = cfg.runtime.loop_cpu
    if cpu is not None and hasattr(os, "sched_getaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        if cpu not in allowed:
            out.append(Problem("runtime.loop_cpu", cpu, sources["runtime.loop_cpu"],
                               f"not one of this process's CPUs {allowed}"))
    if cfg.alerts.urls_file and not os.access(cfg.alerts.urls_file, os.R_OK):
        out.append(Problem("alerts.urls_file", cfg.alerts.urls_file, sources["alerts.urls_file"],
                           _unreadable(Path(cfg.alerts.urls_file))))
    token_file = cfg.api.token_file
    if token_file and not cfg.api.token:
        path = Path(token_file)
        if path.exists() and not os.access(path, os.R_OK):
            out.append(Problem("api.token_file", token_file, sources["api.token_file"], _unreadable(path)))
        elif not path.exists() and not path.parent.is_dir():
            out.append(Problem("api.token_file", token_file, sources["api.token_file"],
                               f"no such file, and its directory {str(path.parent)!r} does not exist to "
                               "create it in"))
    return out


def _unreadable(path: Path) -> str:
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "a directory, not a file"
    return "cannot be read (permission denied)"
