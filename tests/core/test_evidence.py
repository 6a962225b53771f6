"""The real-money gate: unproven strategies stay off prod unless the user allows them."""

from __future__ import annotations

from kalshid.core.strategies import STRATEGY_CLASSES
from kalshid.core.strategies.evidence import EVIDENCE, is_proven, live_gate


def test_every_strategy_has_recorded_evidence() -> None:
    assert set(EVIDENCE) == set(STRATEGY_CLASSES)
    assert all(ev.summary for ev in EVIDENCE.values())


def test_play_money_is_never_gated() -> None:
    gate = live_gate(["kelly_volatility", "mean_reversion"], real_money=False, allow_unproven=False)
    assert gate.allowed == ("kelly_volatility", "mean_reversion") and gate.refused == () and gate.reason is None


def test_real_money_refuses_unproven_strategies_with_a_reason() -> None:
    gate = live_gate(["kelly_volatility", "mean_reversion"], real_money=True, allow_unproven=False)
    unproven = tuple(n for n in ("kelly_volatility", "mean_reversion") if not is_proven(n))
    assert gate.refused == unproven
    assert set(gate.allowed) | set(gate.refused) == {"kelly_volatility", "mean_reversion"}
    if unproven:
        assert gate.reason is not None and "allow_unproven_live" in gate.reason
        assert all(n in gate.reason for n in unproven)
    status = gate.as_status()
    assert status["real_money"] is True and status["refused"] == list(unproven)


def test_the_user_may_allow_unproven_strategies_and_unknown_names_are_unproven() -> None:
    assert live_gate(["mean_reversion"], real_money=True, allow_unproven=True).allowed == ("mean_reversion",)
    gate = live_gate(["someday"], real_money=True, allow_unproven=False)
    assert gate.refused == ("someday",) and "no evidence recorded" in (gate.reason or "")
