"""Which strategies have shown an out-of-sample edge, and the gate that keeps the others off real money.

A strategy may trade **real money** (``exchange.env = prod`` without a dry run) only if
``docs/research.md`` shows a positive out-of-sample P&L per dollar staked whose 95 % bootstrap
interval (by day) lies above zero, or if the user sets ``trading.allow_unproven_live = true``.
Play money — the simulator, Kalshi's demo exchange, any dry run — is never gated: that is where a
strategy is watched and measured.

:data:`EVIDENCE` records the study's verdict per strategy (regenerate it with
``kalshid backtest --study all``). :func:`live_gate` is the pure decision the daemon applies at start-up and
when a strategy is enabled at run time; its ``reason`` is logged once and shown in ``/api/status``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs


@attrs.frozen
class StrategyEvidence:
    """``proven``: an out-of-sample edge with a 95 % interval above zero. ``summary``: the numbers."""

    proven: bool
    summary: str


EVIDENCE: Mapping[str, StrategyEvidence] = {
    "kelly_volatility": StrategyEvidence(
        proven=False,
        summary="on the 135 SOL markets where a price path meets real quotes its fair value scores no better "
                "than the market mid (Brier 0.227 vs 0.221), and its entry rule at the default min_edge lost "
                "0.79 per dollar staked, 95 % interval [-1.05, -0.45], 23 trades (docs/research/overlap.md)"),
    "mean_reversion": StrategyEvidence(
        proven=False,
        summary="fading the YES mid lost money in and out of sample (KXSOL15M test P&L per dollar "
                "staked -0.20, 95 % interval [-0.39, +0.01]; docs/research/rules.md)"),
}


@attrs.frozen
class LiveGate:
    """The outcome of :func:`live_gate`: which enabled strategies run and why any were refused."""

    real_money: bool
    allowed: tuple[str, ...]
    refused: tuple[str, ...]
    reason: str | None

    def as_status(self) -> dict[str, object]:
        return {"real_money": self.real_money, "allowed": list(self.allowed), "refused": list(self.refused),
                "reason": self.reason}


def is_proven(name: str) -> bool:
    """True when :data:`EVIDENCE` records an out-of-sample edge for ``name`` (unknown names: false)."""
    ev = EVIDENCE.get(name)
    return ev is not None and ev.proven


def live_gate(enabled: Iterable[str], *, real_money: bool, allow_unproven: bool) -> LiveGate:
    """Split ``enabled`` into the strategies allowed to run and those refused for lack of evidence.

    Nothing is refused on play money or when ``allow_unproven`` is set.
    """
    names = tuple(enabled)
    if not real_money or allow_unproven:
        return LiveGate(real_money, names, (), None)
    allowed = tuple(n for n in names if is_proven(n))
    refused = tuple(n for n in names if not is_proven(n))
    reason = None
    if refused:
        reason = ("real-money trading refused for strategies without an out-of-sample edge: "
                  + "; ".join(f"{n}: {EVIDENCE[n].summary if n in EVIDENCE else 'no evidence recorded'}"
                              for n in refused)
                  + ". Set trading.allow_unproven_live = true to trade them anyway.")
    return LiveGate(real_money, allowed, refused, reason)
