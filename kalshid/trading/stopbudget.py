"""A stage's stop budget: exchange waits under way when the stop arrives end within its first half.

Execution (:mod:`kalshid.trading.execution`) waits on the exchange in several tasks at once: order
answers, and the cancels and kill switch its bookkeeping task runs. Each such wait runs in a scope
registered here. :meth:`StopBudget.begin` (the stop arrived) brings every registered deadline forward
to the end of the budget's first half, so no single unanswered request can hold the stop for its whole
timeout; the second half, up to :attr:`StopBudget.stop_by`, is the drain's own (resolve what is in
flight, cancel what rests, book the last fills). The budget is a share of
``trading.shutdown_grace_seconds`` (``EXECUTION_DRAIN_SHARE`` in :mod:`kalshid.trading.wiring`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import trio

from kalshid.logs import get_logger

log = get_logger("kalshid.execution")


class StopBudget:
    """Deadlines (Trio time) for the exchange waits of one stage, cut short once it stops."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.cut_at = math.inf   # once stopping: every registered wait ends by then
        self.stop_by = math.inf  # once stopping: the drain ends by then
        self._scopes: set[trio.CancelScope] = set()

    def begin(self) -> None:
        """The stop arrived: every wait under way ends within the first half of the budget."""
        now = trio.current_time()
        self.cut_at = now + self.budget_s / 2
        self.stop_by = now + self.budget_s
        for scope in self._scopes:
            scope.deadline = min(scope.deadline, self.cut_at)

    @contextlib.contextmanager
    def _scope(self, deadline: float) -> Iterator[trio.CancelScope]:
        scope = trio.CancelScope(deadline=min(deadline, self.cut_at))
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)

    @contextlib.contextmanager
    def answer_by(self, deadline: float) -> Iterator[None]:
        """``trio.fail_at(deadline)``, brought forward by a stop."""
        with self._scope(deadline) as scope:
            yield
        if scope.cancelled_caught:
            raise trio.TooSlowError

    @contextlib.contextmanager
    def cut_by_stop(self, what: str) -> Iterator[None]:
        """Exchange work that a stop ends within the budget's first half (the drain then does what is
        left of it itself); logged when it was cut short."""
        with self._scope(math.inf) as scope:
            yield
        if scope.cancelled_caught:
            log.warning("cut short by the stop; the drain cancels what is left", work=what)
