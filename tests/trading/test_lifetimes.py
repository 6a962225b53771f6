"""The whole daemon's lifetimes, under Trio's MockClock: each component outlives the ones started after it.

Started in dependency order, stopped innermost first: strategy stops proposing before anything else
stops, execution drains while risk, the feed and the venue still run, and the venue closes the journal
only after every component that writes to it has ended.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import trio
from daemonkit import running_daemon, wait_for
from structlog.testing import capture_logs

from kalshid.trading.messages import Pipeline

ORDER = ["exchange", "feed", "markets", "risk", "execution", "api", "control", "watchdog", "strategy"]


async def test_components_start_in_order_and_stop_innermost_first(tmp_path: Path,
                                                                  autojump_clock: trio.abc.Clock) -> None:
    with capture_logs() as logs:
        async with running_daemon(tmp_path) as (daemon, supervisor):
            assert supervisor.statistics()["started"] == ORDER

            async def fed() -> bool:
                return daemon.strategy.received > 0

            await wait_for(fed, limit_s=60, every_s=1)
            assert daemon.p.journal is not None and daemon.connected
    events = [(e["event"], e.get("component")) for e in logs]
    stopped = [name for event, name in events if event == "component stopped"]
    assert stopped == ORDER[::-1]
    drained = events.index(("execution drained", None))
    # execution drains inside risk, the feed and the venue: none of them has stopped yet
    assert not [n for event, n in events[:drained] if event == "component stopped" and n in ORDER[:4]]
    assert events.index(("component stopped", "execution")) > drained
    # the journal is closed (and unpublished) only after everything that uses it has ended
    assert daemon.p.journal is None and not daemon.connected


async def test_the_pipeline_has_no_done_flags() -> None:
    """Lifetimes are nested by the supervisor; no component waits on another's "done" event."""
    assert [f.name for f in attrs.fields(Pipeline) if f.name.endswith("_done")] == []
