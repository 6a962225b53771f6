"""The Kalshi WebSocket feed's protocol, without I/O: frames in, commands and typed events out.

:class:`FeedProtocol` holds everything the feed knows about the stream — the wanted markets and their
YES/NO bid books, and per connection ("session") the commands awaiting an answer, each channel's
``sid``, each sid's last ``seq`` — and makes every decision about it:

- :meth:`~FeedProtocol.connected` starts a session and says what to subscribe (one command per
  channel, so each has its own ``sid``); :meth:`~FeedProtocol.set_markets` says how to bring the
  market channels' subscriptions to a new set of markets (``update_subscription`` on a live session);
  markets an update is refused for (code 26 market limit, 27 too many requests) count as not followed,
  so the next change asks for them again.
- :meth:`~FeedProtocol.receive` takes one received frame and the time it arrived. It returns the book
  the frame changed (the hot path: a delta allocates no output), and leaves everything else in
  :attr:`~FeedProtocol.outbox`, in the order it must go out: :class:`Command` values to send, feed
  events to deliver, and :class:`Reconnect` when the connection can no longer be trusted.
- A ``seq`` gap on the book sid, a delta that would drive a level negative, an unreadable delta, or
  error code 10/25 on the book channel → every book stale (:class:`FeedStale`, once per book),
  ``unsubscribe`` the old sid and ``subscribe`` again; each market's snapshot then brings
  :class:`FeedResynced`. Code 10/25 on another channel subscribes that channel again.
- A book crossed (best YES bid + best NO bid > $1: orders the exchange would have matched) for
  :data:`CROSSED_RESYNC_S` is out of step with the exchange: the books resync as above, once per
  crossing (a fresh snapshot that is itself crossed is left as it is until the book uncrosses). A
  shorter cross is tolerated, as the exchange's own deltas may show one mid-match; meanwhile the
  strategies take a crossed book as stale.
- Book sizes are other traders' and are held exactly, fractional ones included (hundredths of a
  contract, :mod:`kalshid.core.book`); a delta finer than 0.01 contract is unreadable.
- A ``fill``, ``user_order`` or ``market_position`` with a fractional count in a market outside the
  traded series (the account traded by hand elsewhere) is logged and left alone
  (``fractional_elsewhere``, :mod:`.wire.fractional`); in a traded market it is unreadable.
- A malformed frame never raises: it is logged with what was wrong and counted (``bad_frames``).
  Market data that cannot be read is dropped (the next print supersedes it); an unreadable book
  delta resyncs the books; anything else (an unreadable frame, snapshot, acknowledgement, fill,
  order or position update) asks for a :class:`Reconnect`, after which the consumer reconciles
  orders and fills over REST (:class:`~kalshid.exchange.base.Reconnected`): nothing the exchange
  said about our orders is lost in silence.

No trio, no clock: time comes in as ``now`` (the caller's monotonic clock, copied into events and
books). The Trio shell (:class:`~kalshid.exchange.kalshi.ws.KalshiFeed`) owns the socket, timers,
backoff and backpressure; outputs must be taken (:meth:`~FeedProtocol.take_outputs`) after each call
that leaves some, before the next frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from kalshid.core.book import Book, BookError
from kalshid.exchange.base import (
    FeedEvent,
    FeedResynced,
    FeedStale,
    SubscriptionFailed,
)
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.kalshi.feedconfig import BOOK, INDEX_CHANNEL, LIFECYCLE_CHANNEL, TERMINAL_ERROR_CODES, FeedConfig
from kalshid.exchange.kalshi.wire import feed, fractional
from kalshid.exchange.kalshi.wire.feed import Command
from kalshid.exchange.kalshi.wire.fields import loads
from kalshid.logs import get_logger

log = get_logger(__name__)

_RESPONSES = ("subscribed", "ok", "unsubscribed", "error")
_BOOK_TYPES = ("orderbook_delta", "orderbook_snapshot")
# Tuples, not sets: a frame's "type" may be any JSON value, and membership must not hash it.
# Messages about our own orders: one that cannot be read must not be lost in silence.
_ORDER_STREAM = ("fill", "user_order", "market_position")
_NO_COMMAND: tuple[str, str, tuple[str, ...]] = ("", "", ())


@attrs.frozen
class Reconnect:
    """The connection can no longer be trusted (``reason`` says why): close it and connect again."""

    reason: str


Output = Command | FeedEvent | Reconnect
CROSSED_RESYNC_S = 2.0  # a book crossed this long (the feed's clock) is resynced
__all__ = ["Command", "FeedProtocol", "Output", "Reconnect"]


class _Session:
    """Per-connection subscription state (a new one for every connection)."""

    __slots__ = ("channel_of", "have", "initial", "last_seq", "next_id", "pending", "sid_of", "subscribing")

    def __init__(self) -> None:
        self.next_id = 1
        self.pending: dict[int, tuple[str, str, tuple[str, ...]]] = {}  # id → (cmd, channel, tickers)
        self.sid_of: dict[str, int] = {}
        self.channel_of: dict[int, str] = {}
        self.have: dict[str, set[str]] = {}  # markets requested per market-channel subscription
        self.subscribing: set[str] = set()
        self.last_seq: dict[int, int] = {}
        self.initial: frozenset[int] = frozenset()  # the ids of the subscriptions sent on connecting


class FeedProtocol:
    """The Kalshi feed protocol's state and decisions (module docstring). Not thread- or task-safe:
    one owner calls it and takes its outputs."""

    def __init__(self, config: FeedConfig, markets: Iterable[str] = ()) -> None:
        self.config = config
        self.markets: set[str] = set(markets)
        self.books: dict[str, Book] = {t: Book(t) for t in self.markets}
        self.outbox: list[Output] = []
        self.answered = False  # the session got a message (cleared by connecting())
        self.stats = {"resyncs": 0, "resubscribes": 0, "bad_frames": 0, "fractional_elsewhere": 0}
        self._announced_stale: set[str] = set()
        self._crossed_since: dict[str, float] = {}  # ticker → when its book was first seen crossed
        self._crossed_resynced: set[str] = set()  # crossed books already resynced for this crossing
        self._session: _Session | None = None
        self._yes_priced = config.use_yes_price

    # ------------------------------------------------------------------ sessions and markets

    @property
    def ready(self) -> bool:
        """Every subscription sent by :meth:`connected` has been answered."""
        s = self._session
        return s is not None and not (s.initial & s.pending.keys())

    def connecting(self) -> None:
        """A connection attempt begins: nothing answered on it yet (see :attr:`answered`)."""
        self.answered = False

    def connected(self) -> list[Command]:
        """A connection is open: a new session, and its subscribe commands (every channel; the market
        channels for the wanted markets, when there are any)."""
        s = self._session = _Session()
        out: list[Command] = []
        cfg = self.config
        for ch in cfg.market_channels:
            if self.markets:
                self._subscribe(s, ch, out)
        for ch in cfg.user_channels:
            self._subscribe(s, ch, out)
        if cfg.lifecycle:
            self._subscribe(s, LIFECYCLE_CHANNEL, out)
        if cfg.index_ids:
            self._subscribe(s, INDEX_CHANNEL, out)
        s.initial = frozenset(s.pending)
        return out

    def closed(self) -> None:
        """The connection is gone: no session until the next :meth:`connected`."""
        self._session = None

    def set_markets(self, tickers: Iterable[str]) -> list[Command]:
        """Follow exactly ``tickers``: new books (stale until their snapshot), dropped markets' books
        discarded, and on a live session the commands that bring the market channels there."""
        new = set(tickers)
        for t in self.markets - new:
            self.books.pop(t, None)
            self._announced_stale.discard(t)
            self._crossed_since.pop(t, None)
            self._crossed_resynced.discard(t)
        for t in new - self.markets:
            self.books[t] = Book(t)
        self.markets = new
        out: list[Command] = []
        if self._session is not None:
            for ch in self.config.market_channels:
                self._reconcile(self._session, ch, out)
        return out

    def mark_all_stale(self, reason: str, now: float) -> list[FeedStale]:
        """Every book stale; a :class:`FeedStale` for each one not already announced."""
        out: list[FeedStale] = []
        for ticker, book in self.books.items():
            book.mark_stale()
            if ticker not in self._announced_stale:
                self._announced_stale.add(ticker)
                out.append(FeedStale(ticker, reason, now))
        return out

    def take_outputs(self) -> list[Output]:
        """The outputs :meth:`receive` left, in order; the outbox is empty afterwards."""
        out, self.outbox = self.outbox, []
        return out

    # ------------------------------------------------------------------ frames

    def receive(self, raw: str | bytes, now: float) -> Book | None:
        """Handle one frame received at ``now``. Returns the book it changed (deliver it after the
        outbox), or None. Requires a session (:meth:`connected`)."""
        s = self._session
        if s is None:
            raise RuntimeError("FeedProtocol.receive() without a session: call connected() first")
        try:
            msg = loads(raw)
        except ProtocolError as exc:
            self._bad_frame(None, str(exc), reconnect=True)
            return None
        if not isinstance(msg, dict):
            self._bad_frame(None, f"expected a JSON object, got {type(msg).__name__}", reconnect=True)
            return None
        typ = msg.get("type")
        body = msg.get("msg")
        if typ in _BOOK_TYPES:
            return self._on_book(s, typ, msg, body, now)
        if typ in _RESPONSES:
            self._on_response(s, typ, msg, body, now)
            return None
        if not isinstance(body, dict):
            if typ in _ORDER_STREAM:
                self._bad_frame(typ, "'msg' is not an object", reconnect=True)
                return None
            log.debug("kalshi_ws_unhandled", type=typ)
            return None
        self.answered = True
        try:
            event = feed.event_of(typ, body, now)
        except ProtocolError as exc:
            if typ in _ORDER_STREAM:
                try:
                    aside = fractional.elsewhere(str(typ), body, exc)
                except ProtocolError as refused:
                    self._bad_frame(typ, str(refused), reconnect=True)
                    return None
                self.stats["fractional_elsewhere"] += 1
                log.warning("kalshi_ws_fractional_elsewhere_left_alone", type=typ, market=aside.ticker,
                            id=aside.ident or None, detail=aside.detail)
                return None
            self._bad_frame(typ, str(exc), reconnect=False)
            return None
        if event is not None:
            self.outbox.append(event)
        return None

    def _bad_frame(self, typ: object, error: str, *, reconnect: bool) -> None:
        self.stats["bad_frames"] += 1
        log.error("kalshi_ws_bad_frame", type=typ, error=error, action="reconnect" if reconnect else "dropped")
        if reconnect:
            self.outbox.append(Reconnect(f"unreadable {typ or 'frame'}: {error}"))

    def _on_book(self, s: _Session, typ: str, msg: dict[str, Any], body: Any, now: float) -> Book | None:
        sid = msg.get("sid")
        if type(sid) is not int or s.channel_of.get(sid) != BOOK:
            return None  # a retired subscription's tail (or no sid at all: not ours to trust)
        self.answered = True
        seq = msg.get("seq")
        if isinstance(seq, int):
            last = s.last_seq.get(sid)
            if last is not None and seq != last + 1:
                self._resync_books(s, f"seq gap on sid {sid}: {last} -> {seq}", now)
                return None
            s.last_seq[sid] = seq
        if not isinstance(body, dict):
            self._bad_book(s, typ, "'msg' is not an object", now)
            return None
        if typ == "orderbook_delta":
            try:
                ticker, side, price, delta, ts = feed.parse_delta(body, yes_priced=self._yes_priced)
            except ProtocolError as exc:
                self._bad_book(s, typ, str(exc), now)
                return None
            book = self.books.get(ticker)
            if book is None or book.stale:
                return None  # not followed, or waiting for its snapshot
            try:
                book.apply_delta(side, price, delta, exchange_ts=ts, local_time=now)
            except BookError as exc:
                self._resync_books(s, f"bad delta: {exc}", now)
                return None
            return self._uncrossed(s, book, now)
        try:
            ticker, yes, no, ts = feed.parse_snapshot(body, yes_priced=self._yes_priced)
            book = self.books.get(ticker)
            if book is None:
                return None
            book.apply_snapshot(yes, no, exchange_ts=ts, local_time=now)
        except (ProtocolError, BookError) as exc:
            self._bad_book(s, typ, str(exc), now)
            return None
        if ticker in self._announced_stale:
            self._announced_stale.discard(ticker)
            self.outbox.append(FeedResynced(ticker, now))
        return self._uncrossed(s, book, now)

    def _uncrossed(self, s: _Session, book: Book, now: float) -> Book | None:
        """``book``, unless it has been crossed for :data:`CROSSED_RESYNC_S`: then the books resync
        (once per crossing) and None."""
        ticker = book.ticker
        if not book.crossed:
            if ticker in self._crossed_since:
                del self._crossed_since[ticker]
                self._crossed_resynced.discard(ticker)
                log.info("kalshi_ws_book_uncrossed", market=ticker)
            return book
        since = self._crossed_since.get(ticker)
        if since is None:
            self._crossed_since[ticker] = since = now
            yes, no = book.best_bid_exact("yes"), book.best_bid_exact("no")
            log.warning("kalshi_ws_book_crossed", market=ticker, yes_bid_cc=yes[0] if yes else None,
                        no_bid_cc=no[0] if no else None, resync_after_s=CROSSED_RESYNC_S)
        if now - since < CROSSED_RESYNC_S or ticker in self._crossed_resynced:
            return book
        self._crossed_resynced.add(ticker)
        self._resync_books(s, f"{ticker}: book crossed for {now - since:.1f} s (best YES bid + best NO bid > $1)",
                           now)
        return None

    def _bad_book(self, s: _Session, typ: str, error: str, now: float) -> None:
        """An unreadable book message on our sid: a delta resyncs the books; a snapshot (which a
        resubscribe would only bring again) reconnects, under the shell's backoff (the books go
        stale when the connection closes)."""
        if typ == "orderbook_delta":
            self._bad_frame(typ, error, reconnect=False)
            self._resync_books(s, f"unreadable delta: {error}", now)
        else:
            self._bad_frame(typ, error, reconnect=True)

    def _on_response(self, s: _Session, typ: str, msg: dict[str, Any], body: Any, now: float) -> None:
        self.answered = True
        cid = msg.get("id")
        cmd, channel, tickers = s.pending.pop(cid, _NO_COMMAND) if type(cid) is int else _NO_COMMAND
        sid, seq = msg.get("sid"), msg.get("seq")
        if type(sid) is int and isinstance(seq, int) and sid in s.last_seq:
            s.last_seq[sid] = max(s.last_seq[sid], seq)  # acks may advance the sid's seq
        if typ == "subscribed":
            if not isinstance(body, dict) or type(body.get("sid")) is not int:
                self._bad_frame(typ, f"missing msg.sid (command {cid!r}, channel {channel!r})", reconnect=True)
                return
            channel = str(body.get("channel") or channel)
            s.subscribing.discard(channel)
            s.sid_of[channel] = body["sid"]
            s.channel_of[body["sid"]] = channel
            if channel in self.config.market_channels:
                commands: list[Command] = []
                self._reconcile(s, channel, commands)
                self.outbox.extend(commands)
        elif typ == "error":
            code = body.get("code") if isinstance(body, dict) else None
            text = str(body.get("msg") or body.get("message") or "") if isinstance(body, dict) else str(body)
            if cmd == "subscribe":
                s.subscribing.discard(channel)
            elif cmd == "update_subscription" and channel in s.have:
                # Markets an update did not add (26 market limit, 27 too many requests, ...) are not
                # followed: the next change of markets asks for them again.
                s.have[channel] -= set(tickers)
            log.error("kalshi_ws_command_error", cmd=cmd, channel=channel, code=code, error=text)
            if type(code) is int and code in TERMINAL_ERROR_CODES:
                self._resubscribe(s, sid, channel, f"error {code}: {text}", now)
                return
            self.outbox.append(SubscriptionFailed(channel, code if type(code) is int else None, text, tickers, now))

    # ------------------------------------------------------------------ decisions

    def _resubscribe(self, s: _Session, sid: object, channel: str, reason: str, now: float) -> None:
        """A terminal subscription error: the subscription is gone; subscribe its channel again (books
        are stale until their new snapshots)."""
        channel = s.channel_of.get(sid, channel) if type(sid) is int else channel
        if not channel:
            return
        self.stats["resubscribes"] += 1
        log.warning("kalshi_ws_resubscribe", channel=channel, reason=reason)
        if channel == BOOK:
            self._resync_books(s, reason, now)
            return
        self._forget_sid(s, channel)
        s.subscribing.discard(channel)
        if channel not in self.config.market_channels or self.markets:
            commands: list[Command] = []
            self._subscribe(s, channel, commands)
            self.outbox.extend(commands)

    def _resync_books(self, s: _Session, reason: str, now: float) -> None:
        """Sequence lost: books stale, unsubscribe the orderbook sid, subscribe again for snapshots."""
        self.stats["resyncs"] += 1
        log.warning("kalshi_ws_book_resync", reason=reason)
        self.outbox.extend(self.mark_all_stale(reason, now))
        commands: list[Command] = []
        sid = self._forget_sid(s, BOOK)
        if sid is not None:
            self._command(s, commands, "unsubscribe", {"sids": [sid]}, BOOK)
        if BOOK not in s.subscribing and self.markets:
            self._subscribe(s, BOOK, commands)
        self.outbox.extend(commands)

    def _reconcile(self, s: _Session, channel: str, out: list[Command]) -> None:
        """Bring a market channel's subscription to the wanted markets."""
        if channel in s.subscribing:
            return  # re-checked when the ack arrives
        sid = s.sid_of.get(channel)
        if sid is None:
            if self.markets:
                self._subscribe(s, channel, out)
            return
        have = s.have.get(channel, set())
        if not self.markets:
            self._forget_sid(s, channel)
            self._command(s, out, "unsubscribe", {"sids": [sid]}, channel)
            return
        add, drop = sorted(self.markets - have), sorted(have - self.markets)
        s.have[channel] = set(self.markets)
        if add:
            self._command(s, out, "update_subscription",
                          {"sids": [sid], "action": "add_markets", "market_tickers": add}, channel, tuple(add))
        if drop:
            self._command(s, out, "update_subscription",
                          {"sids": [sid], "action": "delete_markets", "market_tickers": drop}, channel, tuple(drop))

    def _subscribe(self, s: _Session, channel: str, out: list[Command]) -> None:
        params: dict[str, Any] = {"channels": [channel]}
        tickers: tuple[str, ...] = ()
        if channel in self.config.market_channels:
            tickers = tuple(sorted(self.markets))
            params["market_tickers"] = list(tickers)
            s.have[channel] = set(tickers)
            if channel == BOOK:
                params["use_yes_price"] = self.config.use_yes_price
        elif channel == INDEX_CHANNEL:
            params["index_ids"] = list(self.config.index_ids)
        s.subscribing.add(channel)
        self._command(s, out, "subscribe", params, channel, tickers)

    @staticmethod
    def _command(s: _Session, out: list[Command], cmd: str, params: dict[str, Any], channel: str,
                 tickers: tuple[str, ...] = ()) -> None:
        cid = s.next_id
        s.next_id += 1
        s.pending[cid] = (cmd, channel, tickers)
        out.append(Command(cid, cmd, params))

    @staticmethod
    def _forget_sid(s: _Session, channel: str) -> int | None:
        sid = s.sid_of.pop(channel, None)
        if sid is not None:
            s.channel_of.pop(sid, None)
            s.last_seq.pop(sid, None)
        s.have.pop(channel, None)
        return sid
