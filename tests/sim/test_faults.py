"""Tests for seeded fault injection (kalshid.sim.faults)."""

from __future__ import annotations

import json

import pytest
import trio

from kalshid.sim.faults import MAX_EVENTS, FaultEvent, FaultInjector, FaultSpec, parse_faults
from kalshid.sim.hub import Hub, Subscription


def test_empty_spec_is_no_faults() -> None:
    assert parse_faults("") == FaultSpec()
    assert parse_faults("   ") == FaultSpec()
    assert not FaultSpec().any


def test_full_spec_parses_and_round_trips() -> None:
    text = ("ws_drop_every=30, seq_gap_rate=0.01,latency_ms=50,http_5xx_rate=0.02,"
            "http_429_rate=0.03,lost_response_rate=0.05")
    spec = parse_faults(text)
    assert spec == FaultSpec(ws_drop_every=30.0, seq_gap_rate=0.01, latency_ms=50.0, http_5xx_rate=0.02,
                             http_429_rate=0.03, lost_response_rate=0.05)
    assert spec.any
    assert parse_faults(spec.to_spec_string()) == spec
    assert parse_faults("latency_ms=0") == FaultSpec()


@pytest.mark.parametrize(("text", "message"), [
    ("bogus=1", r"pair 'bogus=1': unknown fault 'bogus'"),
    ("latency_ms", r"pair 'latency_ms': expected name=value"),
    ("seq_gap_rate=abc", r"pair 'seq_gap_rate=abc': 'abc' is not a number"),
    ("seq_gap_rate=nan", r"not a finite number"),
    ("http_5xx_rate=1.5", r"pair 'http_5xx_rate=1.5': http_5xx_rate is a fraction and must be in \[0, 1\]"),
    ("http_429_rate=-0.1", r"http_429_rate is a fraction"),
    ("ws_drop_every=-5", r"pair 'ws_drop_every=-5': ws_drop_every must be a positive number of seconds"),
    ("ws_drop_every=0", r"ws_drop_every must be a positive"),
    ("latency_ms=-1", r"latency_ms must not be negative"),
    ("latency_ms=1,latency_ms=2", r"pair 'latency_ms=2': latency_ms given more than once"),
    ("http_5xx_rate=0.6,lost_response_rate=0.5", r"= 1\.1 > 1"),
    ("latency_ms=1,,seq_gap_rate=0.1", r"empty pair"),
])
def test_bad_specs_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_faults(text)


def test_http_fault_rates_match_configuration() -> None:
    spec = FaultSpec(http_5xx_rate=0.1, http_429_rate=0.05, lost_response_rate=0.02)
    inj = FaultInjector(spec, seed=42)
    n = 50_000
    outcomes = [inj.http_fault(now=float(i)) for i in range(n)]
    frac = {k: outcomes.count(k) / n for k in ("500", "503", "429", "lost")}
    assert frac["500"] + frac["503"] == pytest.approx(0.10, abs=0.006)
    assert frac["500"] == pytest.approx(0.05, abs=0.005)
    assert frac["429"] == pytest.approx(0.05, abs=0.005)
    assert frac["lost"] == pytest.approx(0.02, abs=0.003)
    assert inj.counts == {"http_500": outcomes.count("500"), "http_503": outcomes.count("503"),
                          "http_429": outcomes.count("429"), "lost_response": outcomes.count("lost")}
    assert len(inj.events) == min(MAX_EVENTS, sum(inj.counts.values()))


def test_same_seed_same_decisions_and_events() -> None:
    spec = FaultSpec(http_5xx_rate=0.2, seq_gap_rate=0.1)
    a, b, c = FaultInjector(spec, 1), FaultInjector(spec, 1), FaultInjector(spec, 2)
    run = [(x.http_fault(), x.skip_seq()) for x in (a, b, c) for _ in range(200)]
    assert run[:200] == run[200:400]
    assert run[:200] != run[400:]
    assert list(a.events) == list(b.events)


def test_seq_gap_rate_and_events() -> None:
    inj = FaultInjector(FaultSpec(seq_gap_rate=0.05), seed=3)
    skips = sum(inj.skip_seq(now=1.5, detail="sid=1") for _ in range(20_000))
    assert skips / 20_000 == pytest.approx(0.05, abs=0.005)
    assert inj.counts == {"seq_gap": skips}
    assert inj.events[0] == FaultEvent(kind="seq_gap", detail="sid=1", at=1.5)


def test_no_faults_never_fire() -> None:
    inj = FaultInjector(FaultSpec(), seed=0)
    assert all(inj.http_fault() is None for _ in range(1000))
    assert not any(inj.skip_seq() for _ in range(1000))
    assert not any(inj.ws_drop_due(float(t)) for t in range(1000))
    assert inj.counts == {} and not inj.events and inj.latency_s == 0.0


def test_ws_drop_every_per_connection() -> None:
    seen: list[FaultEvent] = []
    inj = FaultInjector(FaultSpec(ws_drop_every=10.0), seed=0, on_event=seen.append)
    drops_a = [t for t in range(0, 35) if inj.ws_drop_due(float(t), "a")]
    assert drops_a == [10, 20, 30]
    # A connection first seen at t=5 has its own timer.
    drops_b = [t for t in range(5, 30) if inj.ws_drop_due(float(t), "b")]
    assert drops_b == [15, 25]
    assert inj.counts == {"ws_drop": 5}
    assert seen == list(inj.events)
    assert seen[0] == FaultEvent(kind="ws_drop", detail="conn=a", at=10.0)
    inj.forget("a")
    assert not inj.ws_drop_due(100.0, "a")  # restarted timer
    assert inj.ws_drop_due(110.0, "a")


def test_latency_and_bounded_events() -> None:
    inj = FaultInjector(FaultSpec(latency_ms=250.0, http_429_rate=1.0), seed=0)
    assert inj.latency_s == 0.25
    for _ in range(MAX_EVENTS + 10):
        assert inj.http_fault() == "429"
    assert len(inj.events) == MAX_EVENTS
    assert inj.counts["http_429"] == MAX_EVENTS + 10


def test_a_repeated_private_message_goes_again_after_the_next_one() -> None:
    """``repeat_private_rate``: a fill or order update is sent once more, right after the connection's next
    private message (a fill seen twice; an order's older state after its newer one); market data is not."""
    injector = FaultInjector(parse_faults("repeat_private_rate=1"), seed=1)
    hub = Hub(faults=injector)
    conn = hub.connect("u-1")
    for sid, channel in enumerate(("fill", "user_orders", "trade"), start=1):
        conn.subs[sid] = Subscription(sid, channel, None)
    hub._fan("user_orders", "user_order", {"status": "resting"}, "T", "u-1")
    hub._fan("trade", "trade", {"trade_id": "x"}, "T")
    hub._fan("user_orders", "user_order", {"status": "executed"}, "T", "u-1")
    hub._fan("fill", "fill", {"trade_id": "t-1"}, "T", "u-1")
    sent = []
    while True:
        try:
            sent.append(json.loads(conn.receive_channel.receive_nowait()))
        except trio.WouldBlock:
            break
    assert [(m["type"], m["msg"]) for m in sent] == [
        ("user_order", {"status": "resting"}), ("trade", {"trade_id": "x"}),
        ("user_order", {"status": "executed"}), ("user_order", {"status": "resting"}),
        ("fill", {"trade_id": "t-1"}), ("user_order", {"status": "executed"})]
    assert injector.counts == {"repeat_private": 3}
