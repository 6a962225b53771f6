"""The intent log's decision record: every field of the signal, verdict and intent, as JSON-safe
values (what ``attrs.asdict`` with a value serializer gives), and read back to equal records."""

from __future__ import annotations

import enum
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
from storefakes import T0, intent, signal

from kalshid.store import sql_write
from kalshid.store.records import RiskVerdict


def _plain(_inst: Any, _field: Any, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def test_the_record_holds_every_field_as_asdict_would() -> None:
    eastern = timezone(timedelta(hours=-5))
    cases = [(signal(), RiskVerdict(signal_id=1, ts=T0, approved=True, reason_code="approved", detail="")),
             (signal(ts=T0.astimezone(eastern), side="no", action="sell", reason="ünïcode"),
              RiskVerdict(signal_id=7, ts=T0, approved=True, reason_code="reduced", detail="reduced from 9 to 3"))]
    for s, v in cases:
        for i in (intent("c-1"), intent("c-2", signal_id=4, tif="good_till_canceled", side="no")):
            rec = sql_write.decision_record(s, v, i, True)
            assert rec == {"kind": "decision", "dry_run": True,
                           "signal": attrs.asdict(s, value_serializer=_plain),
                           "verdict": attrs.asdict(v, value_serializer=_plain),
                           "intent": attrs.asdict(i, value_serializer=_plain)}
            assert all(type(x) in (str, int, float, bool, type(None))
                       for part in ("signal", "verdict", "intent") for x in rec[part].values())
            assert json.loads(json.dumps(rec)) == rec
