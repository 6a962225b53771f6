"""The fee structure of the markets kalshid follows, read from the exchange: buys only where it is the
one kalshid models.

kalshid computes every edge net of Kalshi's taker fee as :mod:`kalshid.core.fees` models it (quadratic,
multiplier 1). Kalshi publishes the fee structure per series (``GET /series/{series_ticker}``) and lets
an event (one 15-minute window) override it (``GET /events/{event_ticker}``). :class:`FeeWatch` reads
both for the windows the markets room follows and says, per market, why buys there are refused
(:attr:`FeeWatch.refusals`, risk's ``FEE_SCHEDULE``): its effective structure differs from the model
(:func:`~kalshid.core.fees.taker_fee_modelled`), or it is not known (not read yet, or the read failed).

When it reads (reads are cheap, but not free: :mod:`kalshid.exchange.kalshi.ratelimit`): the series
at the first refresh, whenever the followed windows change, and at least once a window (15 minutes of
exchange time); each followed window's event when the followed windows change (a window is read when it
is first followed as the next one and again when it becomes the current one). A read that failed is
tried again at the next refresh (every few seconds); nothing else is read on a refresh where nothing
changed. Between reads, the feed's ``event_fee_update`` (an event's override set or cleared, on the
``market_lifecycle_v2`` channel) is applied to a followed event as it arrives (:meth:`FeeWatch.apply_update`),
so an override set while a window trades refuses its buys at once. A read answered while such an update
arrives does not undo it (the update is the newer word). An update kalshid cannot read makes its event's
structure unknown (buys refused) until the event is read again at the next refresh; after the feed
reconnects (an update may have been missed while it was away) the followed events are read again at the
next refresh.

Loud: a structure that differs is an error log line and an ``alert`` (``fee_schedule``), once per event
and structure; an event back to the model is one info line and an info alert (``fee_schedule_model``);
a failed read is a warning each time it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from kalshid.core.fees import MODELLED_FEE, FeeStructure, fee_refusal, taker_fee_modelled
from kalshid.core.markets import SERIES, WINDOW
from kalshid.exchange.base import EventFeeUpdated, Exchange
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.types import EventFees, Market
from kalshid.logs import get_logger

log = get_logger("kalshid.pipeline")


@attrs.frozen
class MarketFees:
    """One followed market's fee structure as kalshid knows it: ``fee`` None when not known, ``refusal``
    the reason its buys are refused (None: it is kalshid's model; when not known it says why)."""

    ticker: str
    event_ticker: str
    fee: FeeStructure | None
    refusal: str | None

    def as_json(self) -> dict[str, Any]:
        fee = self.fee
        return {"fee_type": fee.fee_type if fee else None, "fee_multiplier": str(fee.multiplier) if fee else None,
                "source": fee.source if fee else None, "event": self.event_ticker,
                "modelled": self.refusal is None, "model": MODELLED_FEE.describe(),
                "entries": "allowed" if self.refusal is None else "refused", "detail": self.refusal}


_NONE: Mapping[str, str] = MappingProxyType({})


class FeeWatch:
    """The followed markets' fee structures (module docstring). ``publish`` is the daemon's event
    publisher (``alert`` events); not thread-safe, one per markets room."""

    def __init__(self, publish: Callable[[str, dict[str, Any]], None], *, series: str = SERIES) -> None:
        self.publish = publish
        self.series_ticker = series
        self.series: FeeStructure | None = None
        self.series_error: str | None = "not read yet"
        self._series_read_at: datetime | None = None
        self._events: dict[str, EventFees] = {}
        self._event_errors: dict[str, str] = {}
        self._followed: tuple[str, ...] = ()
        self._differing: dict[str, FeeStructure] = {}  # event -> the structure alerted (once per event and structure)
        self._followed_markets: tuple[Market, ...] = ()
        self._updates: dict[str, int] = {}  # event -> the feed's updates applied (a read started before one is stale)
        self._reread = False  # the feed reconnected: read the followed events again at the next refresh
        self.markets: tuple[MarketFees, ...] = ()
        self.refusals: Mapping[str, str] = _NONE

    async def refresh(self, exchange: Exchange, followed: Sequence[Market], now: datetime) -> None:
        """Read what is due for ``followed`` at exchange time ``now`` and update :attr:`markets` and
        :attr:`refusals`. Never raises an :class:`ExchangeError`: a failed read leaves that structure
        unknown (buys refused) and is logged; it is read again at the next refresh."""
        events = tuple(dict.fromkeys(m.event_ticker for m in followed))
        changed = events != self._followed
        self._followed = events
        for gone in [e for e in self._events if e not in events]:
            del self._events[gone]
        self._event_errors = {e: why for e, why in self._event_errors.items() if e in events}
        self._differing = {e: f for e, f in self._differing.items() if e in events}
        self._updates = {e: n for e, n in self._updates.items() if e in events}
        reread, self._reread = self._reread, False
        if (self.series is None or changed or self._series_read_at is None
                or now - self._series_read_at >= WINDOW):
            await self._read_series(exchange, now)
        for event in events:
            if changed or reread or event not in self._events:
                await self._read_event(exchange, event)
        self._followed_markets = tuple(followed)
        self._judge(followed)

    def apply_update(self, update: EventFeeUpdated) -> bool:
        """Apply the feed's ``event_fee_update`` to a followed event and judge its markets again at once;
        an event not followed is left for its read when it is (returns whether anything changed)."""
        event = update.event_ticker
        if event not in self._followed:
            log.debug("event fee update for an event not followed", event_ticker=event)
            return False
        self._updates[event] = self._updates.get(event, 0) + 1
        if update.error is not None:
            self._events.pop(event, None)
            self._event_errors[event] = f"the feed's event_fee_update was unreadable: {update.error}"
            log.error("fee structure unknown: the feed's event fee update was unreadable; reading the event "
                      "again at the next refresh, no new entries in its market meanwhile", event_ticker=event,
                      error=update.error)
            self._judge(self._followed_markets)
            return True
        known = self._events.get(event)
        self._events[event] = EventFees(event, known.series_ticker if known is not None else self.series_ticker,
                                        update.fee_type_override, update.fee_multiplier_override)
        self._event_errors.pop(event, None)
        factor = update.fee_multiplier_override
        log.info("event fee override updated by the feed", event_ticker=event,
                 fee_type_override=update.fee_type_override,
                 fee_multiplier_override=None if factor is None else str(factor))
        self._judge(self._followed_markets)
        return True

    def feed_reconnected(self) -> None:
        """The feed reconnected: an ``event_fee_update`` sent while it was away was missed, so the followed
        events are read again at the next refresh."""
        self._reread = True

    async def _read_series(self, exchange: Exchange, now: datetime) -> None:
        try:
            read = await exchange.get_series_fees(self.series_ticker)
        except ExchangeError as exc:
            self.series, self.series_error = None, f"GET /series/{self.series_ticker} failed: {exc}"
            log.warning("fee structure unknown: the series read failed; retrying at the next refresh, no new "
                        "entries meanwhile", series=self.series_ticker, error=f"{type(exc).__name__}: {exc}")
            return
        if read.fee != self.series:
            log.info("series fee structure", series=read.series_ticker, fee_type=read.fee.fee_type,
                     fee_multiplier=str(read.fee.multiplier), modelled=taker_fee_modelled(read.fee))
        self.series, self.series_error, self._series_read_at = read.fee, None, now

    async def _read_event(self, exchange: Exchange, event: str) -> None:
        updates = self._updates.get(event, 0)
        try:
            read = await exchange.get_event_fees(event)
        except ExchangeError as exc:
            if self._updates.get(event, 0) != updates:
                return  # the feed's update that came meanwhile stands
            self._events.pop(event, None)
            self._event_errors[event] = f"GET /events/{event} failed: {exc}"
            log.warning("fee structure unknown: the event read failed; retrying at the next refresh, no new "
                        "entries in its market meanwhile", event_ticker=event, error=f"{type(exc).__name__}: {exc}")
            return
        if self._updates.get(event, 0) != updates:
            # the feed updated the event while the read was on the way: the read may predate that update
            log.info("event fee read answered after the feed's update: the update stands", event_ticker=event)
            return
        self._event_errors.pop(event, None)
        if read.event_ticker != event:
            self._events.pop(event, None)  # what an earlier read said is not known to hold either
            self._event_errors[event] = f"GET /events/{event} answered for {read.event_ticker}"
            log.warning("fee structure unknown: the event read answered for another event", event_ticker=event,
                        answered=read.event_ticker)
            return
        self._events[event] = read

    def _judge(self, followed: Sequence[Market]) -> None:
        markets: list[MarketFees] = []
        for m in followed:
            event = self._events.get(m.event_ticker)
            fee = event.effective(self.series) if event is not None and self.series is not None else None
            unknown = None if fee is not None else (self.series_error if self.series is None
                                                    else self._event_errors.get(m.event_ticker, "not read yet"))
            refusal = fee_refusal(m.ticker, fee, unknown or "")
            markets.append(MarketFees(m.ticker, m.event_ticker, fee, refusal))
            if fee is not None:
                self._announce(m, fee)
        self.markets = tuple(markets)
        self.refusals = MappingProxyType({f.ticker: f.refusal for f in markets if f.refusal is not None})

    def _announce(self, m: Market, fee: FeeStructure) -> None:
        """An error line and an alert when ``m``'s event differs from the model (once per event and
        structure); an info line and alert when an event that differed is back to the model."""
        event = m.event_ticker
        if not taker_fee_modelled(fee):
            if self._differing.get(event) == fee:
                return
            self._differing[event] = fee
            detail = fee_refusal(m.ticker, fee)
            log.error("fee structure differs from kalshid's model: no new entries in this market", market=m.ticker,
                      event_ticker=event, fee_type=fee.fee_type, fee_multiplier=str(fee.multiplier), source=fee.source,
                      model=MODELLED_FEE.describe())
            self.publish("alert", {"level": "error", "kind": "fee_schedule", "ticker": m.ticker, "event": event,
                                   "fee_type": fee.fee_type, "fee_multiplier": str(fee.multiplier),
                                   "source": fee.source, "detail": detail})
        elif event in self._differing:
            del self._differing[event]
            log.info("fee structure back to kalshid's model: entries resume", market=m.ticker, event_ticker=event,
                     fee_type=fee.fee_type, fee_multiplier=str(fee.multiplier))
            self.publish("alert", {"level": "info", "kind": "fee_schedule_model", "ticker": m.ticker,
                                   "event": event, "detail": f"{m.ticker}: {fee.describe()} ({fee.source})"})
