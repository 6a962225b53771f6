"""The daemon's :class:`~kalshid.control.api.DaemonControl`: what the API and ``kalshid ctl`` see and do.

Queries read the stages' immutable snapshots (:class:`~kalshid.trading.messages.Snapshots`), the daemon's
facts and the journal. Commands are messages to the inbox of the stage that owns what they change
(execution: start/stop, cancel-all; risk: stop-entry, breaker reset; strategy: enable/disable, parameters), awaited
with a timeout (:func:`~kalshid.trading.messages.ask`), and publish a ``status_update``. Money leaves as
``"12.3400"`` dollar strings or integer ``*_cc`` fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from kalshid import threads
from kalshid.config.render import render_json
from kalshid.control.api import JSON, ControlError, OrderQuery, PnlGroup, TradeQuery
from kalshid.core.breaker import BreakerStatus
from kalshid.core.strategies.base import ParamError
from kalshid.core.strategies.evidence import live_gate
from kalshid.core.units import format_dollars
from kalshid.daemon import audit
from kalshid.store import CursorError
from kalshid.store.views import STATUS_STATES, fill_json, order_json, pnl_grouping, pnl_json
from kalshid.trading.messages import (
    CancelAll,
    Command,
    ExecutionSnapshot,
    ResetBreaker,
    RiskSnapshot,
    SetEntries,
    SetStrategy,
    SetStrategyParams,
    SetTrading,
    StageUnavailable,
    ask,
)
from kalshid.trading.operator_state import save_operator_state
from kalshid.trading.reload import ReloadRefused, apply_reload
from kalshid.trading.risk import marks_for

if TYPE_CHECKING:
    from kalshid.trading.wiring import TradingDaemon

COMMAND_TIMEOUT_S = 5.0  # a stage answers a command between two of its messages: well within this

class DaemonControlImpl:
    def __init__(self, daemon: TradingDaemon) -> None:
        self.d = daemon
        self.started_local = trio.current_time()

    @property
    def _state(self) -> Any:
        """The daemon's facts (mode, markets, readiness, reconciliation): written by the wiring."""
        return self.d.p.state

    @property
    def _risk(self) -> RiskSnapshot:
        return self.d.p.snapshots.risk

    @property
    def _execution(self) -> ExecutionSnapshot:
        return self.d.p.snapshots.execution

    def _marks(self) -> dict[str, int]:
        if not self._state.ready:
            return {}
        return marks_for(self._risk.portfolio, self.d.p.snapshots.strategy.tops)

    def _run_state(self) -> str:
        breaker = self._risk.breaker
        if breaker.status is BreakerStatus.HALTED:
            return "halted"
        if not self._execution.trading_enabled:
            return "stopped"
        if breaker.status is BreakerStatus.REDUCING:
            return "stop_entry"
        return "running"

    def _pnl(self, marks: dict[str, int]) -> JSON:
        """Realised, unrealised (positions marked at the book where known, else at cost) and total."""
        port = self._risk.portfolio
        unrealized = sum(p.value_cc(marks.get(t)) - p.cost_basis_cc for t, p in port.positions.items())
        return {"realized": format_dollars(port.realized_pnl_cc), "unrealized": format_dollars(unrealized),
                "total": format_dollars(port.realized_pnl_cc + unrealized)}

    async def status(self) -> JSON:
        s, risk, execution = self._state, self._risk, self._execution
        marks = self._marks()
        equity = risk.portfolio.equity_cc(marks) if s.ready else risk.portfolio.cash_cc
        return {
            "state": self._run_state(),
            "mode": s.mode,
            "strategy_gate": self.d.gate.as_status(),
            "uptime_s": round(trio.current_time() - self.started_local, 3),
            "exchange": {"connected": self.d.connected, "rest": self.d.rest_url, "ws": self.d.ws_url,
                         "trading_active": s.exchange_trading_active},
            "market": s.current_market.ticker if s.current_market else None,
            "next_market": s.next_market.ticker if s.next_market else None,
            "equity": format_dollars(equity),
            "cash": format_dollars(risk.portfolio.cash_cc),
            "realized_pnl": format_dollars(risk.portfolio.realized_pnl_cc),
            "pnl": self._pnl(marks),
            "operator": {"trading_enabled": execution.trading_enabled, "entries_enabled": risk.entries_enabled,
                         "restored": self.d.operator_restored},
            "breaker": {"tripped": risk.breaker.status is BreakerStatus.HALTED, "state": risk.breaker.status.value,
                        "reason": None},
            "ready": s.ready,
            "reconciliation": s.reconciliation,
            "position_audit": self._position_audit(),
            "fees": {f.ticker: f.as_json() for f in s.market_fees},
            "open_orders": execution.orders.open_count,
            "exchange_time": self.d.clock.now().isoformat() if self.d.clock.known else None,
            "counters": dict(sorted({**self.d.p.snapshots.counters(), **self.d.notices.view}.items())),
            "recording": self._recording(),
        }

    def _position_audit(self) -> JSON:
        """The latest comparison of the journal's positions with the exchange's (``checked_at`` None:
        none yet); ``differences`` are the confirmed ones, which hold new entries."""
        audit = self._risk.position_audit
        return {"checked_at": audit.checked_at.isoformat() if audit.checked_at else None,
                "agrees": audit.agrees, "differences": list(audit.describe())}

    def _recording(self) -> JSON:
        """The market-data recording (``record.*``): off, or its link's figures (events offered,
        shipped to the recorder process, dropped, waiting; whether it is dropping now)."""
        link = self.d.feed.recorder
        if link is None:
            return {"enabled": self.d.cfg.record.enabled, "running": False}
        return {"enabled": True, "running": True, **link.statistics()}

    async def positions(self) -> list[JSON]:
        out: list[JSON] = []
        marks = self._marks()
        positions = sorted(self._risk.portfolio.positions.items())
        # the market's fees, as the journal's positions give them: the portfolio's position counts only the
        # fills since it last opened (a fill that flips a position pays its fee on the closing part)
        fees = await self.d.p.require_journal().fees_by_ticker([t for t, _ in positions])
        for ticker, pos in positions:
            mark = marks.get(ticker)
            out.append({"ticker": ticker, "yes_count": pos.yes_count, "no_count": pos.no_count,
                        "cost_basis": format_dollars(pos.cost_basis_cc),
                        "fees": format_dollars(fees.get(ticker, pos.fees_cc)),
                        "value": format_dollars(pos.value_cc(mark)),
                        "unrealized_pnl": format_dollars(pos.value_cc(mark) - pos.cost_basis_cc),
                        "worst_case_loss": format_dollars(pos.worst_case_loss_cc)})
        return out

    async def orders(self, query: OrderQuery) -> JSON:
        journal = self.d.p.require_journal()
        states = STATUS_STATES.get(query.status) if query.status else None
        try:
            page = await journal.list_orders(ticker=query.ticker, states=states, limit=query.limit,
                                             cursor=query.cursor)
        except CursorError as exc:
            raise ControlError("cursor", str(exc)) from None
        return {"items": [order_json(o) for o in page.items], "cursor": page.next_cursor}

    async def trades(self, query: TradeQuery) -> JSON:
        journal = self.d.p.require_journal()
        try:
            page = await journal.list_fills(ticker=query.ticker, strategy=query.strategy, since=query.since,
                                            until=query.until, limit=query.limit, cursor=query.cursor)
        except CursorError as exc:
            raise ControlError("cursor", str(exc)) from None
        return {"items": [fill_json(f) for f in page.items], "cursor": page.next_cursor}

    async def pnl(self, group_by: PnlGroup) -> list[JSON]:
        return pnl_json(await self.d.p.require_journal().pnl(pnl_grouping(group_by)), group_by)

    async def markets(self) -> JSON:
        s = self._state
        strategy = self.d.p.snapshots.strategy
        last = strategy.last_print
        fees = {f.ticker: f for f in s.market_fees}

        def one(m: Any) -> JSON | None:
            if m is None:
                return None
            top = strategy.tops.get(m.ticker)
            return {"ticker": m.ticker, "open_time": m.open_time.isoformat(), "close_time": m.close_time.isoformat(),
                    "status": m.status, "floor_strike": str(m.floor_strike) if m.floor_strike is not None else None,
                    "yes_bid": format_dollars(top.yes_bid_cc) if top and top.yes_bid_cc else None,
                    "yes_ask": format_dollars(top.yes_ask_cc) if top and top.yes_ask_cc else None,
                    "no_bid": format_dollars(top.no_bid_cc) if top and top.no_bid_cc else None,
                    "no_ask": format_dollars(top.no_ask_cc) if top and top.no_ask_cc else None,
                    "fair_value": dict(strategy.last_fair.get(m.ticker, {})),
                    "edge": dict(strategy.last_edge.get(m.ticker, {})),
                    "fees": fees[m.ticker].as_json() if m.ticker in fees else None}

        basis = strategy.basis
        return {"current": one(s.current_market), "next": one(s.next_market),
                "index": {"id": "SOLUSD_RTI", "value": last.price if last else None,
                          "ts": last.ts.isoformat() if last else None},
                "underlying": self.d.cfg.exchange.underlying,
                "basis": {"spot": str(basis.spot) if basis and basis.spot is not None else None,
                          "index": str(basis.index) if basis and basis.index is not None else None,
                          "basis": str(basis.basis) if basis and basis.basis is not None else None,
                          "basis_bps": basis.basis_bps if basis else None,
                          "smoothed_bps": basis.smoothed_bps if basis else None,
                          "samples": basis.samples if basis else 0}}

    async def risk(self) -> JSON:
        s = self._risk
        lim = s.limits
        if lim is None:
            raise ControlError(None, "the risk stage has not published its limits yet", code="conflict")
        port = s.portfolio
        realized_today = port.realized_pnl_cc - s.ledger.start_realized_cc
        return {
            "limits": {"max_position_size": format_dollars(lim.max_position_size_cc),
                       "max_concurrent_positions": lim.max_concurrent_positions,
                       "max_daily_loss": format_dollars(lim.max_daily_loss_cc),
                       "max_window_exposure": format_dollars(lim.max_window_exposure_cc),
                       "entry_cutoff_seconds": lim.entry_cutoff_seconds,
                       "max_data_age_seconds": lim.max_data_age_seconds,
                       "breaker_daily_loss_fraction": s.breaker.config.max_daily_loss_fraction,
                       "breaker_drawdown_fraction": s.breaker.config.max_drawdown_fraction},
            "usage": {"open_positions": len(port.open_tickers()),
                      "realized_today": format_dollars(realized_today),
                      "worst_case_loss": format_dollars(port.worst_case_loss_cc()),
                      "loss_measure": format_dollars(-realized_today + port.worst_case_loss_cc()),
                      "exposure_by_window": {k.isoformat(): format_dollars(v)
                                             for k, v in port.exposure_by_window().items()},
                      "resting_orders": self._execution.orders.open_count},
            "breaker": {"tripped": s.breaker.status is BreakerStatus.HALTED, "state": s.breaker.status.value,
                        "day_start_equity": format_dollars(s.breaker.day_start_equity_cc),
                        "peak_equity": format_dollars(s.breaker.peak_equity_cc)},
        }

    async def strategies(self) -> list[JSON]:
        reg = self.d.p.registry
        return [{"name": n, "enabled": reg.is_enabled(n), "params": attrs.asdict(reg.get(n).params)}
                for n in reg.names()]

    async def config_redacted(self) -> JSON:
        import json

        out: JSON = json.loads(render_json(self.d.runtime.loaded))
        return out

    # --- commands: each one audited (kalshid.daemon.audit) and, when it changes anything, journaled -----
    async def _announce(self) -> JSON:
        status = await self.status()
        self.d._publish("status_update", status)
        return status

    def _view(self) -> JSON:
        return {"state": self._run_state(), "breaker": self._risk.breaker.status.value}

    def _audit(self, action: str, before: JSON, after: JSON, detail: str, *, target: str | None = None,
               outcome: audit.Outcome | None = None) -> None:
        audit.record(self.d._publish, action, before=before, after=after, detail=detail, target=target,
                     outcome=outcome)

    def _refuse(self, action: str, error: ControlError, *, target: str | None = None) -> ControlError:
        view = self._view()
        self._audit(action, view, view, error.message, target=target, outcome="refused")
        return error

    async def _exchange_time(self, action: str) -> None:
        """Risk dates breaker transitions by the market data's time: just after start the strategy may
        not have seen any yet. Wait a little for it, else refuse."""
        with trio.move_on_after(5):
            while self.d.p.snapshots.strategy.data_time is None:  # noqa: ASYNC110 (the strategy stage publishes it)
                await trio.sleep(0.05)
        if self.d.p.snapshots.strategy.data_time is None:
            raise self._refuse(action, ControlError(None, "no market data has arrived yet; try again in a few "
                                                    "seconds", code="conflict"))

    async def _ask(self, action: str, stage: str, command: Command, *, timeout_s: float = COMMAND_TIMEOUT_S,
                   target: str | None = None) -> None:
        """Hand ``command`` to ``stage``'s inbox and await its answer; a stage that is gone, slow, or
        refuses is a ``conflict`` naming why (audited as refused)."""
        inboxes = {"execution": self.d.p.execution_in, "risk": self.d.p.risk_in,
                   "strategy": (self.d.strategy.commands, None)}
        pair = inboxes[stage]
        try:
            await ask(pair[0] if pair is not None else None, command, stage=stage, timeout_s=timeout_s)
        except StageUnavailable as exc:
            raise self._refuse(action, ControlError(None, str(exc), code="conflict"), target=target) from None
        if command.refused is not None:
            raise self._refuse(action, ControlError(None, command.refused, code="conflict"), target=target)

    async def start(self) -> JSON:
        before = self._view()
        breaker = self._risk.breaker
        if breaker.status is BreakerStatus.HALTED:
            raise self._refuse("start", ControlError(None, "circuit breaker is tripped; reset it first",
                                                     code="conflict"))
        if breaker.status is BreakerStatus.REDUCING:
            await self._exchange_time("start")
            await self._ask("start", "risk", SetEntries(True, "operator start"))
        await self._ask("start", "execution", SetTrading(True, "operator start"))
        await save_operator_state(self.d.p, self.d.param_overrides)
        self._audit("start", before, self._view(), "trading enabled: new positions may open")
        return await self._announce()

    async def stop(self) -> JSON:
        before = self._view()
        await self._ask("stop", "execution", SetTrading(False, "operator stop", cancel_all=True))
        await save_operator_state(self.d.p, self.d.param_overrides)
        self._audit("stop", before, self._view(), "trading stopped: resting orders cancelled, nothing new sent")
        return await self._announce()

    async def cancel_all(self) -> JSON:
        before = self._view()
        await self._ask("cancel_all", "execution", CancelAll("operator cancel-all"))
        # the kill switch changes no state the view shows, yet it always acts: applied, not no_change
        self._audit("cancel_all", before, self._view(), "kill switch: every resting order of the account "
                    "cancelled; no order for the next minute", outcome="applied")
        return await self._announce()

    async def stop_entry(self) -> JSON:
        before = self._view()
        if self._risk.breaker.status is BreakerStatus.HALTED:
            raise self._refuse("stop_entry", ControlError(
                None, "circuit breaker is tripped; nothing trades until it is reset", code="conflict"))
        await self._exchange_time("stop_entry")
        await self._ask("stop_entry", "risk", SetEntries(False, "operator stop-entry"))
        await save_operator_state(self.d.p, self.d.param_overrides)
        self._audit("stop_entry", before, self._view(), "entries stopped: exits and settlements go on")
        return await self._announce()

    async def reset_breaker(self) -> JSON:
        before = self._view()
        if self._risk.breaker.status is not BreakerStatus.HALTED:
            self._audit("reset_breaker", before, before, f"breaker is not tripped ({before['breaker']}): "
                        "nothing to reset; trading unchanged", outcome="no_change")
            return await self.status()
        # a reset does not restart trading (POST /api/start does): stopped first, so nothing is placed
        # between the reset and the stop
        await self._ask("reset_breaker", "execution", SetTrading(False, "circuit breaker reset"))
        await self._ask("reset_breaker", "risk", ResetBreaker("operator"))
        await save_operator_state(self.d.p, self.d.param_overrides)
        self._audit("reset_breaker", before, self._view(), "breaker reset; trading stays stopped until start")
        return await self._announce()

    def _require_strategy(self, name: str, action: str) -> None:
        if name not in self.d.p.registry.names():
            raise self._refuse(action, ControlError("name", f"unknown strategy {name!r}; known: "
                                                    f"{', '.join(self.d.p.registry.names())}", code="not_found"),
                               target=name)

    async def _set_enabled(self, name: str, enabled: bool) -> JSON:
        action = "enable_strategy" if enabled else "disable_strategy"
        self._require_strategy(name, action)
        before = {"enabled": self.d.p.registry.is_enabled(name)}
        await self._ask(action, "strategy", SetStrategy(name, enabled), target=name)
        await save_operator_state(self.d.p, self.d.param_overrides)
        self._audit(action, before, {"enabled": enabled}, f"strategy {name} {'enabled' if enabled else 'disabled'}",
                    target=name)
        await self._announce()
        return {"name": name, "enabled": enabled}

    async def enable_strategy(self, name: str) -> JSON:
        self._require_strategy(name, "enable_strategy")
        gate = live_gate((name,), real_money=self.d.gate.real_money,
                         allow_unproven=self.d.cfg.trading.allow_unproven_live)
        if gate.refused:
            raise self._refuse("enable_strategy", ControlError(
                "name", gate.reason or f"{name} is refused on real money", code="conflict"), target=name)
        return await self._set_enabled(name, True)

    async def disable_strategy(self, name: str) -> JSON:
        return await self._set_enabled(name, False)

    async def set_strategy_params(self, name: str, params: Mapping[str, Any]) -> JSON:
        self._require_strategy(name, "set_params")
        current = attrs.asdict(self.d.p.registry.get(name).params)
        before = {k: current.get(k) for k in params}
        try:  # validated here for a precise answer (a new strategy object: the registry is not touched)
            self.d.p.registry.get(name).with_params(params)
        except ParamError as exc:
            msg = str(exc)
            field = next((f"params.{k}" for k in params if k in msg), "params")
            raise self._refuse("set_params", ControlError(field, msg), target=name) from None
        await self._ask("set_params", "strategy", SetStrategyParams(name, dict(params)), target=name)
        new = attrs.asdict(self.d.p.registry.get(name).params)
        self.d.param_overrides.setdefault(name, {}).update({k: new[k] for k in params})
        await save_operator_state(self.d.p, self.d.param_overrides)
        self._audit("set_params", before, {k: new[k] for k in params}, f"parameters of {name} changed", target=name)
        return {"name": name, "params": new}

    async def reload(self) -> JSON:
        from kalshid.config import ConfigError

        loaded = self.d.runtime.loaded
        try:
            from kalshid.config import load_config

            new = await threads.run_sync(lambda: load_config(config_path=loaded.config_file))
        except ConfigError as exc:
            raise self._refuse("reload", ControlError("config", "; ".join(str(p) for p in exc.problems))) from None
        try:
            changed = await apply_reload(self.d, new.config)
        except ReloadRefused as exc:  # audited by apply_reload
            raise ControlError(None, str(exc), code="conflict") from None
        return {"reloaded": True, "applied": changed}

