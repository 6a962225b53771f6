"""What a sweep's stored Optuna study was searched on, so that its trials are reused only for that search.

A fold's study is resumed from its storage by name. Trials run on another training slice (another
``--from``/``--to``, ``--folds`` or ``--split``), another source, objective, parameter space or base
settings would count as finished trials of this fold, and its "best" parameters could then have been
chosen on data of this fold's test slice: in-sample results reported as out-of-sample. So each fold's
study carries its **scope** (a user attribute, written when the study is first used), and a study whose
stored scope differs, or that holds trials without one, is refused by :func:`check_scope`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

SCOPE_ATTR = "kalshid_scope"


class StudyScopeMismatch(ValueError):
    """A stored study holds trials of another search than the one asked for."""


def fold_scope(spec: Any, settings: Any, space: Sequence[Any], train: tuple[datetime, datetime],
               objective: str) -> dict[str, Any]:
    """The identity of one fold's search, as plain JSON data (datetimes as ISO text)."""
    scope = {
        "train": [train[0].isoformat(), train[1].isoformat()],
        "source": attrs.asdict(spec) if attrs.has(type(spec)) else repr(spec),
        "objective": objective,
        "space": [attrs.asdict(p) if attrs.has(type(p)) else repr(p) for p in space],
        "settings": attrs.asdict(settings) if attrs.has(type(settings)) else repr(settings),
    }
    plain: dict[str, Any] = json.loads(json.dumps(scope, default=str, sort_keys=True))
    return plain


def check_scope(study: Any, scope: dict[str, Any]) -> None:
    """Write ``scope`` on a fresh ``study``; refuse a study that holds trials of another search.

    Raises :class:`StudyScopeMismatch` naming what differs."""
    stored = study.user_attrs.get(SCOPE_ATTR)
    if stored is None:
        if study.get_trials(deepcopy=False):
            raise StudyScopeMismatch(
                f"the stored study {study.study_name!r} holds trials without a record of what they were "
                "searched on; use another --study name, --out or --storage")
        study.set_user_attr(SCOPE_ATTR, scope)
        return
    if stored != scope:
        differs = ", ".join(k for k in sorted(set(stored) | set(scope)) if stored.get(k) != scope.get(k))
        where = ""
        if stored.get("train") != scope.get("train"):
            where = f" (its training slice {stored.get('train')}, this fold's {scope.get('train')})"
        raise StudyScopeMismatch(
            f"the stored study {study.study_name!r} holds trials of another search: its {differs} differ{where}; "
            "its best parameters were not chosen on this fold's training slice alone. Use another --study "
            "name, --out or --storage")
