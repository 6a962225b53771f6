"""The simulator's WebSocket endpoint ``/trade-api/ws/v2``: handshake auth and commands.

The upgrade request must carry a valid Kalshi signature of ``ts + GET + /trade-api/ws/v2`` (RSA-PSS or
Ed25519); otherwise the handshake is refused with HTTP 401 before accepting. Commands ``subscribe``,
``unsubscribe``, ``update_subscription`` (``add_markets``, ``delete_markets``, ``get_snapshot``; the CF
Benchmarks actions; ``index_ids`` is optional on subscribe and ``["all"]`` tracks every index) and
``list_subscriptions`` are answered with the shapes and numeric error codes of
the AsyncAPI (codes 6, 16 and 17 are retired; an unknown market is code 11 naming it). ``use_yes_price``
(orderbook only, default false) picks the price scale of the NO side. ``send_initial_snapshot`` sends the
ticker channel's current state for the markets a subscribe or an ``add_markets`` names, and
``skip_ticker_ack`` leaves the market list out of a subscription's ``ok`` replies. Replies, snapshots and data
share the connection's bounded queue (:mod:`kalshid.sim.hub`), so ordering holds and a slow client is
cut off, never waited for.
Pings: Hypercorn sends a Ping every ``websocket_ping_interval`` (10 s) on Trio's clock.
"""

from __future__ import annotations

import json
from typing import Any

import trio
from quart import Response, websocket
from quart_trio import QuartTrio

from kalshid.core.markets import INDEX_ID
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Side
from kalshid.sim import wire, wsmsg
from kalshid.sim.authn import AuthError
from kalshid.sim.hub import Connection, Subscription, dumps, envelope
from kalshid.sim.venue import Venue

WS_PATH = "/trade-api/ws/v2"
MARKET_CHANNELS = ("orderbook_delta", "ticker", "trade", "fill", "user_orders", "market_positions")
CHANNELS = (*MARKET_CHANNELS, "market_lifecycle_v2", "cfbenchmarks_value")
INDEX_IDS = (INDEX_ID,)
ALL_INDICES = wsmsg.ALL_INDICES

ERRORS = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market ticker required",
    15: "Action required",
    24: "Index IDs required",
}


def _with_id(cmd_id: Any, reply: dict[str, Any]) -> dict[str, Any]:
    """Echo the command's ``id`` when it sent a usable one: a positive integer (the AsyncAPI's
    ``commandId``: "If the id is set to 0, the server treats it the same way as if there was no id")."""
    if isinstance(cmd_id, int) and not isinstance(cmd_id, bool) and cmd_id > 0:
        return {"id": cmd_id, **reply}
    return reply


def _all_mode(index_ids: set[str]) -> set[str]:
    """An index filter naming ``"all"`` is just ``{"all"}`` (the AsyncAPI: "all-mode is ["all"]")."""
    return {ALL_INDICES} if ALL_INDICES in index_ids else index_ids


class CommandError(Exception):
    def __init__(self, code: int, detail: str = "", **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


class Commands:
    """Executes one client command against a connection's subscriptions."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def handle(self, conn: Connection, text: str) -> None:
        cmd_id: Any = None
        try:
            try:
                cmd = json.loads(text)
            except ValueError:
                raise CommandError(1, "message is not JSON") from None
            if not isinstance(cmd, dict):
                raise CommandError(1, "message is not a JSON object")
            cmd_id = cmd.get("id")
            name = cmd.get("cmd")
            if name == "list_subscriptions":
                subs = [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()]
                conn.offer(dumps(_with_id(cmd_id, {"type": "ok", "msg": subs})))
                return
            if name not in ("subscribe", "unsubscribe", "update_subscription"):
                raise CommandError(5, f"unknown command {name!r}")
            params = cmd.get("params")
            if not isinstance(params, dict):
                raise CommandError(2)
            getattr(self, name)(conn, cmd_id, params)
        except CommandError as exc:
            msg: dict[str, Any] = {"code": exc.code, "msg": ERRORS.get(exc.code, "Error")}
            if exc.detail:
                msg["msg"] = f"{msg['msg']}: {exc.detail}"
            msg.update(exc.extra)
            conn.offer(dumps(_with_id(cmd_id, {"type": "error", "msg": msg})))

    def _tickers(self, params: dict[str, Any], *, required: bool) -> set[str] | None:
        """The markets a command names: ``market_ticker``/``market_tickers`` or, by UUID,
        ``market_id``/``market_ids`` (one form only)."""
        forms = {k: params[k] for k in ("market_ticker", "market_tickers", "market_id", "market_ids") if k in params}
        if len(forms) > 1:
            raise CommandError(11, f"{' and '.join(forms)} are mutually exclusive")
        if not forms:
            if required:
                raise CommandError(14)
            return None
        [(key, value)] = forms.items()
        many = [value] if key in ("market_ticker", "market_id") else value
        if not isinstance(many, list) or not many or not all(isinstance(t, str) for t in many):
            raise CommandError(11, f"{key} must be a non-empty string or array of strings")
        markets = self.venue.exchange.markets
        if key.startswith("market_id"):
            by_id = {wire.market_id(t): t for t in markets}
            unknown = [i for i in many if i not in by_id]
            if unknown:
                raise CommandError(11, f"market not found: {', '.join(unknown)}")
            return {by_id[i] for i in many}
        unknown = [t for t in many if t not in markets]
        if unknown:
            raise CommandError(11, f"market not found: {', '.join(unknown)}", market_tickers=unknown)
        return set(many)

    def _index_ids(self, params: dict[str, Any], *, required: bool = True) -> set[str]:
        """The ``index_ids`` of a command: required (code 24) by ``subscribe_indices`` and
        ``unsubscribe_indices``, optional on ``subscribe`` (none: no index until one is added);
        ``"all"`` tracks every index of the channel."""
        ids = params.get("index_ids")
        if ids is None:
            if required:
                raise CommandError(24)
            return set()
        if not isinstance(ids, list) or not ids:
            raise CommandError(11, "index_ids must be a non-empty array")
        unknown = [i for i in ids if i not in (*INDEX_IDS, ALL_INDICES)]
        if unknown:
            raise CommandError(11, f"unknown index ids {unknown}; available: {list(INDEX_IDS)}")
        return _all_mode(set(ids))

    def _snapshot(self, conn: Connection, sub: Subscription, tickers: set[str], cmd_id: Any = None) -> None:
        ex = self.venue.exchange
        for ticker in sorted(tickers):
            body = dumps(wsmsg.snapshot(ticker, ex.books[ticker], sub.use_yes_price))
            text = envelope("orderbook_snapshot", sub.sid, body, self.venue.hub.next_seq(sub, may_skip=False))
            if isinstance(cmd_id, int) and not isinstance(cmd_id, bool) and cmd_id > 0:
                text = f'{{"id":{cmd_id},{text[1:]}'
            conn.offer(text)

    def _ticker_snapshot(self, conn: Connection, sub: Subscription, tickers: set[str]) -> None:
        """The ``ticker`` channel's initial snapshot (``send_initial_snapshot``): the current state now."""
        ex = self.venue.exchange
        for ticker in sorted(tickers):
            yes, no = ex.books[ticker].best_bid(Side.YES), ex.books[ticker].best_bid(Side.NO)
            body = wsmsg.ticker(
                ex.markets[ticker],
                yes[0] if yes else None,
                ONE_DOLLAR_CC - no[0] if no else None,
                yes[1] if yes else 0,
                no[1] if no else 0,
                self.venue.now(),
            )
            conn.offer(envelope("ticker", sub.sid, dumps(body)))

    def subscribe(self, conn: Connection, cmd_id: Any, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            raise CommandError(3)
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise CommandError(8, f"{unknown}")
        use_yes_price = params.get("use_yes_price", False)
        if not isinstance(use_yes_price, bool):
            raise CommandError(11, "use_yes_price must be true or false")
        skip_ticker_ack = params.get("skip_ticker_ack", False)
        if not isinstance(skip_ticker_ack, bool):
            raise CommandError(11, "skip_ticker_ack must be true or false")
        plans: list[tuple[str, set[str] | None, set[str]]] = []
        for channel in channels:  # validate everything before subscribing to anything
            if channel == "cfbenchmarks_value":
                plans.append((channel, None, self._index_ids(params, required=False)))
            elif channel == "market_lifecycle_v2":
                plans.append((channel, None, set()))
            else:
                plans.append((channel, self._tickers(params, required=channel == "orderbook_delta"), set()))
        for channel, tickers, index_ids in plans:
            sub = Subscription(conn.new_sid(), channel, tickers, index_ids, use_yes_price=use_yes_price,
                               skip_ticker_ack=skip_ticker_ack)
            conn.subs[sub.sid] = sub
            conn.offer(
                dumps(_with_id(cmd_id, {"type": "subscribed", "msg": {"channel": channel, "sid": sub.sid}}))
            )
            if channel == "orderbook_delta" and tickers:
                self._snapshot(conn, sub, tickers)
            if channel == "ticker" and tickers and params.get("send_initial_snapshot") is True:
                self._ticker_snapshot(conn, sub, tickers)
            if channel == "cfbenchmarks_value" and wsmsg.tracks_index(index_ids, INDEX_ID):
                # the current value at once, as the ticker channel's initial snapshot does (our choice:
                # Kalshi's docs do not say); a subscriber need not wait up to a second for its first print
                from kalshid.sim.tasks import index_message

                body = index_message(self.venue, int(self.venue.now()))
                seq = self.venue.hub.next_seq(sub, may_skip=False)
                conn.offer(envelope("cfbenchmarks_value", sub.sid, dumps(body), seq))

    def unsubscribe(self, conn: Connection, cmd_id: Any, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids:
            raise CommandError(4)
        missing = [s for s in sids if s not in conn.subs]
        if missing:
            raise CommandError(7, f"{missing}")
        for sid in sids:
            sub = conn.subs.pop(sid)
            conn.offer(dumps(_with_id(cmd_id, {"sid": sid, "seq": max(1, sub.seq), "type": "unsubscribed"})))

    def update_subscription(self, conn: Connection, cmd_id: Any, params: dict[str, Any]) -> None:
        sid, sids = params.get("sid"), params.get("sids")
        if sid is not None and sids is not None:
            raise CommandError(12)
        if sids is not None:
            if not isinstance(sids, list) or len(sids) != 1:
                raise CommandError(12)
            sid = sids[0]
        if sid is None:
            raise CommandError(12)
        sub = conn.subs.get(sid)
        if sub is None:
            raise CommandError(7, f"{sid}")
        action = params.get("action")
        if action is None:
            raise CommandError(15)
        if sub.channel == "cfbenchmarks_value":
            self._update_indices(conn, cmd_id, sub, action, params)
            return
        if action not in ("add_markets", "delete_markets", "get_snapshot") or sub.channel == "market_lifecycle_v2":
            raise CommandError(13, f"{action!r} on {sub.channel}")
        if action == "get_snapshot" and sub.channel != "orderbook_delta":
            raise CommandError(13, f"get_snapshot on {sub.channel}")
        tickers = self._tickers(params, required=True)
        assert tickers is not None
        if action == "get_snapshot":  # a fresh snapshot; the subscription is unchanged
            self._snapshot(conn, sub, tickers, cmd_id)
            return
        if action == "add_markets":
            new = tickers - (sub.tickers or set())
            sub.tickers = (sub.tickers or set()) | tickers
            if sub.channel == "orderbook_delta" and new:
                self._snapshot(conn, sub, new)
            if sub.channel == "ticker" and new and params.get("send_initial_snapshot") is True:
                self._ticker_snapshot(conn, sub, new)
        else:
            sub.tickers = (sub.tickers or set()) - tickers
        listed = {} if sub.skip_ticker_ack else {"market_tickers": sorted(sub.tickers)}
        reply = _with_id(cmd_id, {"sid": sid, "type": "ok", "msg": listed})
        if sub.seq:
            reply["seq"] = sub.seq
        conn.offer(dumps(reply))

    def _update_indices(
        self, conn: Connection, cmd_id: Any, sub: Subscription, action: Any, params: dict[str, Any]
    ) -> None:
        hub = self.venue.hub
        if action == "indexlist":
            reply = {"type": "cfbenchmarks_value_indexlist", "sid": sub.sid,
                     "seq": hub.next_seq(sub, may_skip=False), "msg": {"index_ids": list(INDEX_IDS)}}
            conn.offer(dumps(_with_id(cmd_id, reply)))
            return
        if action not in ("subscribe_indices", "unsubscribe_indices"):
            raise CommandError(13, f"{action!r} on cfbenchmarks_value")
        ids = self._index_ids(params)
        if action == "subscribe_indices":
            sub.index_ids = _all_mode(sub.index_ids | ids)
        else:
            sub.index_ids = set() if ALL_INDICES in ids else sub.index_ids - ids
        reply = {"sid": sub.sid, "seq": hub.next_seq(sub, may_skip=False), "type": "ok",
                 "msg": {"index_ids": sorted(sub.index_ids)}}
        conn.offer(dumps(_with_id(cmd_id, reply)))


def add_websocket_route(app: QuartTrio, venue: Venue) -> None:
    """Mount ``/trade-api/ws/v2`` on ``app``."""
    commands = Commands(venue)

    @app.websocket(WS_PATH)
    async def ws_endpoint() -> Response | None:
        try:
            _key, user = venue.keys.authenticate(websocket.headers, "GET", WS_PATH)
        except AuthError as exc:
            return Response(wire.error_text("unauthorized", str(exc)), 401, content_type="application/json")
        await websocket.accept()
        conn = venue.hub.connect(user)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_loop, venue, conn, nursery.cancel_scope)
                if venue.faults is not None and venue.faults.spec.ws_drop_every is not None:
                    nursery.start_soon(_drop_loop, venue, conn)
                while True:
                    text = await websocket.receive()
                    commands.handle(conn, text if isinstance(text, str) else text.decode("utf-8", "replace"))
        finally:
            venue.hub.disconnect(conn)
        return None


async def _send_loop(venue: Venue, conn: Connection, scope: trio.CancelScope) -> None:
    latency = venue.faults.latency_s if venue.faults is not None else 0.0
    async with conn.receive_channel:
        async for text in conn.receive_channel:
            if latency:
                await trio.sleep(latency)
            await websocket.send(text)
    # the queue was closed: slow consumer, injected drop, or shutdown
    code = 1008 if conn.close_reason and conn.close_reason.startswith("slow") else 1000
    await websocket.close(code, conn.close_reason or "")
    scope.cancel()


async def _drop_loop(venue: Venue, conn: Connection) -> None:
    assert venue.faults is not None
    while True:
        await venue.clock.sleep(1.0)
        if venue.faults.ws_drop_due(venue.now(), conn.conn_id):
            conn.close("injected fault: connection dropped")
            return
