"""A stop brings every registered exchange wait forward to the end of its budget's first half."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from kalshid.trading.stopbudget import StopBudget


async def test_a_stop_cuts_an_answer_wait_to_half_its_budget_and_leaves_later_deadlines_alone(
        autojump_clock: trio.abc.Clock) -> None:
    budget = StopBudget(4.0)
    outcome: list[tuple[str, float]] = []

    async def wait_answer(deadline_s: float) -> None:
        started = trio.current_time()
        try:
            with budget.answer_by(started + deadline_s):
                await trio.sleep_forever()
        except trio.TooSlowError:
            outcome.append(("too slow", trio.current_time() - started))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_answer, 10.0)  # cut to 2 s by the stop
        nursery.start_soon(wait_answer, 1.0)   # ends by its own deadline first
        await trio.testing.wait_all_tasks_blocked()
        budget.begin()
        assert budget.stop_by - trio.current_time() == pytest.approx(4.0)
    assert sorted(outcome) == [("too slow", pytest.approx(1.0)), ("too slow", pytest.approx(2.0))]


async def test_work_cut_short_by_the_stop_is_logged_and_a_wait_begun_after_it_is_bounded_too(
        autojump_clock: trio.abc.Clock) -> None:
    budget = StopBudget(6.0)
    budget.begin()
    with capture_logs() as logs, budget.cut_by_stop("kill switch"):
        await trio.sleep_forever()
    assert trio.current_time() == pytest.approx(3.0)
    assert [(e["event"], e["work"]) for e in logs] == [
        ("cut short by the stop; the drain cancels what is left", "kill switch")]
