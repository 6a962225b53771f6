"""The pure pieces: command table, NDJSON protocol, line splitting, rendering, broadcaster."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from kalshid.control.broadcaster import Broadcaster, OrderPath, encode_event
from kalshid.control.commands import SOCKET_COMMANDS, WS_COMMANDS, CommandError, parse_command
from kalshid.control.protocol import (
    LineSplitter,
    decode_response,
    encode_error,
    encode_request,
    encode_result,
    parse_request,
)
from kalshid.control.render import render


def test_parse_request_roundtrip() -> None:
    line = encode_request("enable_strategy", {"name": "fair_value"}, request_id=3)
    assert line.endswith(b"\n")
    req = parse_request(line)
    assert req.id == 3
    assert req.command.name == "enable_strategy" and dict(req.command.args) == {"name": "fair_value"}


def test_alias_maps_to_canonical_command() -> None:
    assert parse_command("reset_circuit_breaker", None, WS_COMMANDS).name == "reset_breaker"
    with pytest.raises(CommandError) as info:
        parse_command("reset_breaker", None, WS_COMMANDS)
    assert info.value.code == "unknown_command"


@pytest.mark.parametrize(
    ("line", "code", "field"),
    [
        (b"{nope", "bad_request", None),
        (b"[]", "bad_request", None),
        (b'{"command": "status", "id": {"a": 1}}', "bad_request", "id"),
        (b'{"command": 5}', "bad_request", "command"),
        (b'{"command": "explode"}', "unknown_command", "command"),
        (b'{"command": "enable_strategy"}', "missing_argument", "name"),
        (b'{"command": "enable_strategy", "args": {"name": ""}}', "invalid_argument", "name"),
        (b'{"command": "orders", "args": {"limit": 0}}', "invalid_argument", "limit"),
        (b'{"command": "orders", "args": {"limit": true}}', "invalid_argument", "limit"),
        (b'{"command": "orders", "args": {"status": "open"}}', "invalid_argument", "status"),
        (b'{"command": "orders", "args": {"ticker": "x y"}}', "invalid_argument", "ticker"),
        (b'{"command": "status", "args": {"verbose": 1}}', "invalid_argument", "verbose"),
        (b'{"command": "status", "args": "x"}', "bad_request", "args"),
        (b'{"command": "status", "args": {"a": NaN}}', "bad_request", None),
        (b"[" * 100_000, "bad_request", None),
    ],
)
def test_parse_request_errors_name_the_field(line: bytes, code: str, field: str | None) -> None:
    with pytest.raises(CommandError) as info:
        parse_request(line)
    assert info.value.code == code
    assert info.value.field == field


def test_error_keeps_request_id_for_the_reply() -> None:
    with pytest.raises(CommandError) as info:
        parse_request(b'{"id": 42, "command": "explode"}')
    assert info.value.request_id == 42


def test_responses_roundtrip_and_garbage_is_refused() -> None:
    ok = decode_response(encode_result(1, {"state": "running"}))
    assert ok.ok and ok.result == {"state": "running"} and ok.id == 1
    err = decode_response(encode_error(2, {"code": "not_found", "message": "no", "field": "name"}))
    assert not err.ok and err.error == {"code": "not_found", "message": "no", "field": "name"}
    for garbage in (b"hello", b'{"ok": "yes"}', b'{"ok": false}'):
        with pytest.raises(CommandError):
            decode_response(garbage)


def test_socket_and_ws_command_sets() -> None:
    assert {"status", "positions", "orders", "strategies", "reload"} <= SOCKET_COMMANDS
    assert "status" not in WS_COMMANDS  # REST serves queries; the WS pushes status itself


def test_line_splitter_reassembles_and_bounds() -> None:
    s = LineSplitter(max_line=10)
    assert s.feed(b'{"a"') == []
    assert s.feed(b":1}\n\n{}\n{") == [b'{"a":1}', b"{}"]
    assert s.pending == b"{"
    with pytest.raises(CommandError) as info:
        s.feed(b"x" * 20)
    assert info.value.code == "line_too_long"


def test_render_tables_and_pages() -> None:
    text = render({"items": [{"id": "o1", "status": "resting"}, {"id": "o2", "extra": True}], "cursor": "o2"})
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "EXTRA"]
    assert lines[1].split() == ["o1", "resting", "-"]
    assert lines[2].split() == ["o2", "-", "yes"]
    assert lines[-1] == "(more: --cursor o2)"
    assert render([]) == "(none)"
    assert render(None) == "ok"


def test_render_objects_as_indented_sections() -> None:
    """``ctl status`` and the other objects: nested objects are indented sections (a phone's terminal
    is narrow), not JSON on one line; lists are one cell, or a JSON line per object."""
    text = render({"state": "running", "breaker": {"tripped": False, "reason": None},
                   "gate": {"allowed": ["kelly_volatility", "mean_reversion"], "refused": []},
                   "empty": {}, "mismatches": [{"ticker": "T1", "diff": 3}], "uptime_s": 1.5})
    assert text.splitlines() == [
        "state       running",
        "breaker",
        "  tripped  no",
        "  reason   -",
        "gate",
        "  allowed  kelly_volatility, mean_reversion",
        "  refused  (none)",
        "empty       (none)",
        "mismatches",
        '  {"diff":3,"ticker":"T1"}',
        "uptime_s    1.5",
    ]
    deep = render({"a": {"b": {"c": 1}}})
    assert deep.splitlines() == ["a", "  b", "    c  1"]


def test_encode_event_validates() -> None:
    assert json.loads(encode_event({"type": "alert", "data": {"x": 1}}, lambda: "T")) == {
        "type": "alert",
        "data": {"x": 1},
        "ts": "T",
    }
    with pytest.raises(ValueError, match="event type"):
        encode_event({"type": "gossip", "data": {}})
    with pytest.raises(ValueError, match="mapping"):
        encode_event({"type": "alert", "data": [1]})
    with pytest.raises(TypeError):
        encode_event({"type": "alert", "data": {"x": object()}})


async def test_broadcaster_fans_out_and_evicts_only_the_slow() -> None:
    b = Broadcaster(now=lambda: "T")
    fast, slow = b.subscribe(2), b.subscribe(2)
    received: list[str] = []
    for i in range(5):
        b.publish({"type": "market_update", "data": {"i": i}})
        received.append(await fast.receive())  # fast keeps up
    assert [json.loads(r)["data"]["i"] for r in received] == list(range(5))
    assert slow.overflowed.is_set() and not fast.overflowed.is_set()
    assert b.statistics().subscribers == 1 and b.statistics().evicted == 1
    fast.close()
    assert b.statistics().subscribers == 0
    b.publish({"type": "alert", "data": {}})  # no subscribers: fine


async def test_subscription_takes_a_queued_burst_without_waiting() -> None:
    b = Broadcaster(now=lambda: "T")
    sub = b.subscribe(8)
    assert sub.receive_waiting(4) == []  # nothing queued: no wait either
    for i in range(5):
        b.publish({"type": "alert", "data": {"i": i}})
    first = await sub.receive()
    rest = sub.receive_waiting(3)  # capped
    assert [json.loads(t)["data"]["i"] for t in [first, *rest]] == [0, 1, 2, 3]
    assert [json.loads(t)["data"]["i"] for t in sub.receive_waiting(10)] == [4]
    b.publish({"type": "alert", "data": {"i": 5}})
    b.close()
    assert [json.loads(t)["data"]["i"] for t in sub.receive_waiting(10)] == [5]  # delivered before the end
    assert sub.receive_waiting(10) == []  # ended: empty, no exception


async def test_broadcaster_close_ends_iteration() -> None:
    b = Broadcaster()
    sub = b.subscribe(4)
    b.publish({"type": "alert", "data": {"n": 1}})
    b.close()
    with trio.fail_after(1):
        items = [x async for x in sub]
    assert len(items) == 1 and not sub.overflowed.is_set()
    b.publish({"type": "alert", "data": {}})  # dropped after close
    late = b.subscribe(1)
    with trio.fail_after(1):
        assert [x async for x in late] == []
    with pytest.raises(ValueError):
        b.subscribe(0)


IDLE = 0.01  # the tests wait for a longer idle spell than the delivery task (0), so it goes first


def numbers(texts: list[str]) -> list[int]:
    return [json.loads(t)["data"]["i"] for t in texts]


def drain(sub: Any) -> list[str]:
    out: list[str] = []
    while True:
        try:
            out.append(sub._receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return out


class Busy:
    """A trading stage at work (a checkpoint loop, not waiting for its inbox) until stopped: the order
    path is not clear. Stopped, it waits for its next message like an idle stage."""

    def __init__(self, path: OrderPath) -> None:
        self.spins = 0
        self.stopped = False
        self._path = path
        self._producer, self._inbox = trio.open_memory_channel[int](1)

    async def run(self) -> None:
        self._path.watch(self._inbox)  # at work from its start
        while not self.stopped:
            self.spins += 1
            await trio.lowlevel.checkpoint()
        await self._inbox.receive()


def publish(b: Broadcaster, *ids: int) -> None:
    for i in ids:
        b.publish({"type": "market_update", "data": {"i": i}})


async def spin(n: int) -> None:
    for _ in range(n):
        await trio.lowlevel.checkpoint()


async def test_deferred_delivery_waits_for_a_clear_order_path_and_keeps_order() -> None:
    b = Broadcaster(now=lambda: "T", chunk=2, max_defer_s=60)
    subs = [b.subscribe(100) for _ in range(5)]
    busy = Busy(b.order_path)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(b.run)
            await trio.testing.wait_all_tasks_blocked(IDLE)
            nursery.start_soon(busy.run)
            publish(b, 0, 1, 2)
            while busy.spins < 50:
                await trio.lowlevel.checkpoint()
            assert all(drain(s) == [] for s in subs)  # nothing offered while a stage is at work
            assert b.statistics().pending == 3
            busy.stopped = True
            await trio.testing.wait_all_tasks_blocked(IDLE)
            assert [numbers(drain(s)) for s in subs] == [[0, 1, 2]] * 5
            publish(b, 3)
            await trio.testing.wait_all_tasks_blocked(IDLE)
            assert [numbers(drain(s)) for s in subs] == [[3]] * 5
            nursery.cancel_scope.cancel()
    publish(b, 4)  # run() ended: delivered at once again
    assert [numbers(drain(s)) for s in subs] == [[4]] * 5


async def test_deferred_delivery_gives_up_waiting_after_max_defer() -> None:
    b = Broadcaster(now=lambda: "T", chunk=1, max_defer_s=0.05)
    sub = b.subscribe(10)
    busy = Busy(b.order_path)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(b.run)
            await trio.testing.wait_all_tasks_blocked(IDLE)
            nursery.start_soon(busy.run)
            start = trio.current_time()
            publish(b, 0)
            got = await sub.receive()
            waited = trio.current_time() - start
            busy.stopped = True
            nursery.cancel_scope.cancel()
    assert numbers([got]) == [0]
    assert 0.05 <= waited < 2


async def test_deferred_delivery_still_evicts_a_full_queue() -> None:
    b = Broadcaster(now=lambda: "T", max_defer_s=60, max_pending=3)
    small, big = b.subscribe(2), b.subscribe(100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.run)
        await trio.testing.wait_all_tasks_blocked(IDLE)
        publish(b, 0, 1, 2)
        await trio.testing.wait_all_tasks_blocked(IDLE)
        assert small.overflowed.is_set() and numbers(drain(big)) == [0, 1, 2]
        nursery.cancel_scope.cancel()


async def test_pending_events_beyond_max_pending_are_delivered_at_once() -> None:
    b = Broadcaster(now=lambda: "T", max_defer_s=60, max_pending=2)
    sub = b.subscribe(100)
    b._deferring = True  # as while run() is waiting for the loop to go idle
    publish(b, 0, 1, 2)
    assert numbers(drain(sub)) == [0, 1, 2] and b.statistics().pending == 0
    publish(b, 3)
    assert drain(sub) == [] and b.statistics().pending == 1
    b.close()
    assert numbers(drain(sub)) == [3]


async def test_cancelling_delivery_between_chunks_loses_nothing() -> None:
    b = Broadcaster(now=lambda: "T", chunk=1, max_defer_s=60)
    subs = [b.subscribe(10) for _ in range(3)]
    busy = Busy(b.order_path)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.run)
        await trio.testing.wait_all_tasks_blocked(IDLE)
        nursery.start_soon(busy.run)
        publish(b, 0, 1)
        await spin(20)
        assert b.statistics().pending == 2
        busy.stopped = True
        nursery.cancel_scope.cancel()  # delivery cancelled while waiting for the loop to go idle
    assert [numbers(drain(s)) for s in subs] == [[0, 1]] * 3


async def test_a_flush_during_a_batch_keeps_each_subscribers_order() -> None:
    b = Broadcaster(now=lambda: "T", chunk=1, max_defer_s=60, max_pending=1)
    subs = [b.subscribe(10) for _ in range(3)]
    busy = Busy(b.order_path)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.run)
        await trio.testing.wait_all_tasks_blocked(IDLE)
        publish(b, 0)
        await trio.testing.wait_all_tasks_blocked(IDLE)  # batch [0] offered to all: the loop was idle
        nursery.start_soon(busy.run)
        publish(b, 1)
        await spin(20)  # the delivery task takes [1] as its batch and waits for an idle loop
        publish(b, 2, 3)  # over max_pending: flushed at once, after the rest of batch [1]
        assert [numbers(drain(s)) for s in subs] == [[0, 1, 2, 3]] * 3
        busy.stopped = True
        nursery.cancel_scope.cancel()


async def test_delivery_waits_while_an_order_holds_it() -> None:
    b = Broadcaster(now=lambda: "T", max_defer_s=60)
    sub = b.subscribe(10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.run)
        await trio.testing.wait_all_tasks_blocked(IDLE)
        with b.hold():
            b.publish({"type": "order_update", "data": {"i": 0}})
            await trio.testing.wait_all_tasks_blocked(IDLE)  # idle, but held: nothing delivered
            assert drain(sub) == [] and b.statistics().pending == 1
        await trio.testing.wait_all_tasks_blocked(IDLE)
        assert numbers(drain(sub)) == [0]
        nursery.cancel_scope.cancel()
