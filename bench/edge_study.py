"""The edge study: volatility memory, calibration of model / market mid / recalibrated mid by minutes
left, and whether any trading rule makes money out of sample. Writes ``docs/research.md``.

Usage: ``.venv/bin/python bench/edge_study.py [--data DIR] [--out docs/research.md] [--reps 1000]``
(``make research`` runs it). The data folder defaults to ``<repo>/../shared/data``. Deterministic
(fixed bootstrap seed); about two minutes on one core.

The train/test split is fixed here, before any result, and nothing is fitted on a test period:

- SOL 1-minute candles: train = the five files 2021-10 → 2024-02, test = 2024-10-01 → 2024-11-04.
- Kalshi ladder paths (closes 2026-05-25 → 2026-07-14, ET dates): train = up to 2026-06-30,
  test = 2026-07-01 → 2026-07-14.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_backtest import backtests
from edge_data import DEFAULT_DATA, LadderMarket, read_candles, read_ladders, sol_candle_files
from edge_overlap import overlap_entries
from edge_stats import METRICS, DayBootstrap, fit_logistic, fmt_ci, logits
from edge_trade import (
    Trade,
    all_taker_entries,
    maker_rule,
    mean_reversion_rule,
    per_dollar,
    taker_fee,
    taker_rule,
)
from edge_vol import VolConfig, forecasts, sigma_path, vol_nll, windows

from kalshid.core import calibration
from kalshid.core.calibration import LogisticRecalibration

HORIZONS = (14, 10, 7, 5, 3, 1)
KALSHI_TRAIN_END = date(2026, 6, 30)
CANDLE_TEST_PREFIX = "2024-10-01"
HALF_LIVES = (60.0, 300.0, 900.0, 1800.0, 3600.0, 14_400.0, 86_400.0)
OLD_FLOOR = 0.0007
OLD_PER_PRINT_HALF_LIFE = 11.2  # a decay of 0.94 per 1-s print
TAKER_THETAS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)
MAKER_THETAS = (-1.0, 0.0, 0.01, 0.02, 0.03, 0.05)
MR_Z = (1.0, 1.5, 2.0, 2.5, 3.0)
MIN_TRAIN_TRADES = 30


HEAD = """# Research: is there an edge?

Every table below is written by one command, from the public data in `../shared/data`:

    .venv/bin/python bench/edge_study.py            # about two minutes; --data DIR, --out FILE, --reps N

It calls the daemon's own code: `kalshid.core.vol.EwmaVol` (volatility), `kalshid.core.pricing`
(the averaging-aware fair value), `kalshid.core.fees` (Kalshi's exact fee schedule) and
`kalshid.core.calibration` (scores, recalibration). The verdict is recorded for the daemon in
`kalshid/core/strategies/evidence.py`.

## Method

**Train and test periods, fixed before any result was seen.** Nothing is fitted on a test period.

- **SOL/USDT 1-minute candles** (Binance spot, six files 2021–2024): volatility memory, the σ floor,
  calibration of the fair value on synthetic 15-minute windows. Train: the five files 2021-10 →
  2024-02. Test: 2024-10-01 → 2024-11-04.
- **Kalshi ladder paths** (per-minute YES bid/ask candles, six coins, 704 SOL markets): calibration of
  the market mid; taker, maker and mean-reversion rules on real quotes. Train: ET dates up to
  2026-06-30. Test: 2026-07-01 → 2026-07-14.
- **SOL perpetual 1-minute path** (2026-06-01 → 06-02) with the `book_entry` quotes: the fair value
  against the mid on the same markets, one quote each. Nothing is fitted on it; indicative only.

The shared data holds no index path for the Kalshi test period, so the fair value cannot be scored on
the same test markets as the mid at every horizon; §4 is the only like-for-like comparison.

**Scores.** Brier, log loss (p clipped to [1e-6, 1 − 1e-6]) and ECE over 10 equal-width bins, by
minutes left (14, 10, 7, 5, 3, 1). Intervals are 95 % percentile intervals from a bootstrap that
resamples whole days (1 000 resamples, fixed seeds): outcomes within a day share one price path.
ECE is biased upwards in resamples, so its interval can sit above the point estimate; read it as a
spread. `recalibrated` forecasts are σ(a + b·logit p) with (a, b) fitted per horizon on train.

**Fill assumptions** (`bench/edge_trade.py`). One contract per entry and at most one entry per
market (the first minute, from 14 down to 2 minutes left, where the rule fires; the risk engine takes
no entries in the last minute). *Taker*: fills at the ask close of that minute's Kalshi candle, no
latency and no depth limit — optimistic — and pays Kalshi's taker fee (0.07·P·(1 − P), rounded up to
the cent on a 100-contract order, per contract). *Maker* (post-only, no fee on KXSOL15M): rests at the
best bid of the side bought for the next minute; it can fill only if the market trades *through* it
(next YES ask low below a YES bid, next YES bid high above a YES offer), then with the adverse
selection measured on Kalshi 15-minute crypto markets: P(fill | the order's side loses) = 0.962,
P(fill | it wins) = 0.843 (P&L and stake are expectations). Settlement on the real result. P&L per
dollar staked = Σ P&L / Σ price paid.

**Rules.** Each has one parameter chosen on train (the best P&L per dollar with at least 30 train
trades) and is then run once on test. The fair value for the trading rules is the recalibrated mid
(the only one the shared data supports on every market): *taker* buys the side whose
`fair − ask − fee` is at least θ; *maker* rests a bid on a side whose `fair − bid` is at least θ
(θ = −1: always quote both sides); *mean reversion* fades the mid's z-score against the previous
five minutes (taker). `kelly_volatility` itself is judged in §4 with its default `min_edge`.

Plots (reliability diagrams, equity curves) come from `kalshid backtest` once it replays these
sources; this study prints tables only.
"""

TAIL = """
## What would change the verdict

- **A like-for-like test of the fair value.** Record the index with `kalshid record` (or any source
  of the CF SOL index at one-second resolution) over a period of several weeks and score the model
  and the mid on the same markets at every horizon; fit pooled weights (model and mid logits by
  minutes left) on the first part, judge them on the last.
- **An interval above zero on later data.** A rule whose P&L per dollar staked has a 95 % by-day
  interval above zero on a held-out period *after* its parameters were fixed — at realistic size
  and with the fill assumptions above (or a recorded book) — is recorded as proven in
  `kalshid/core/strategies/evidence.py` with its numbers, and may then trade real money by default.
- **Cheaper execution.** The unconditional taker table shows the spread and fee costing 2–5 ¢ a
  contract at most prices; a maker rule with a better queue position than "trade-through only"
  (measured from a recorded book, not assumed) could change the maker rows.

## What the daemon does with this verdict

- `kelly_volatility` (the default strategy) runs on play money — the embedded simulator, Kalshi's
  demo exchange, any dry run — so `make run` shows the daemon at work. On real money (`prod`
  without a dry run) it is refused with one warning line, and `/api/status` carries
  `strategy_gate.reason`, unless `trading.allow_unproven_live = true`.
- `mean_reversion` is off by default (`trading.enabled_strategies`): fading the YES mid bets against
  the information that arrives as a window resolves, and it lost money in and out of sample above.
- The volatility estimate has a one-hour half-life and no floor (§1).
"""


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def table(self, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self("| " + " | ".join(head) + " |")
        self("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            self("| " + " | ".join(r) + " |")
        self()


def _metrics_row(label: str, p: np.ndarray, y: np.ndarray, boot: DayBootstrap) -> list[str]:
    return [label, str(len(p))] + [fmt_ci(*boot.metric(p, y, fn), digits=4) for fn in METRICS.values()]


def vol_and_model(data: Path, out: Report, reps: int) -> None:
    files = sol_candle_files(data)
    candles = [read_candles(f) for f in files]
    train = [c for c in candles if not c.name.startswith(CANDLE_TEST_PREFIX)]
    test = [c for c in candles if c.name.startswith(CANDLE_TEST_PREFIX)]
    if not test:
        raise SystemExit(f"edge study: no SOL candle file starting {CANDLE_TEST_PREFIX} in {data / 'crypto_1m'}")
    wins = {c.name: windows(c) for c in candles}
    out("## 1. Volatility memory and the σ floor (SOL 1-minute candles)")
    out()
    out("Mean Gaussian negative log-likelihood of each 15-minute window's log-move `ln(settle/strike)` "
        "(variance σ²·880 s, σ from `EwmaVol` at the open); lower is better. Half-life chosen on train.")
    out()
    configs = [VolConfig(f"H={h:g} s", h) for h in HALF_LIVES]
    configs += [VolConfig("H=1800 s + floor 0.0007", 1800.0, OLD_FLOOR),
                VolConfig("per-print decay 0.94 (H=11.2 s) + floor 0.0007", OLD_PER_PRINT_HALF_LIFE, OLD_FLOOR)]
    sigmas: dict[str, dict[str, dict[int, float]]] = {}
    rows = []
    train_nll: dict[str, float] = {}
    for cfg in configs:
        sigmas[cfg.label] = {c.name: sigma_path(c, cfg) for c in candles}
        tr = float(np.mean([vol_nll(c, wins[c.name], sigmas[cfg.label][c.name]) for c in train]))
        te = float(np.mean([vol_nll(c, wins[c.name], sigmas[cfg.label][c.name]) for c in test]))
        train_nll[cfg.label] = tr
        rows.append([cfg.label, f"{tr:.4f}", f"{te:.4f}"])
    out.table(["configuration", "train NLL", "test NLL"], rows)
    best = min((c for c in configs if c.floor_per_sqrt_minute == 0.0), key=lambda c: train_nll[c.label])
    out(f"Chosen on train: **{best.label}, no floor** (the daemon's default `vol_half_life_seconds`).")
    out()

    out("## 2. Calibration of the fair value by minutes left (candles, test 2024-10-01 → 11-04)")
    out()
    out("`fair_yes_probability` with σ from the chosen EWMA, the floored one, and the per-print decay; "
        "`recalibrated` = σ(a + b·logit p) fitted per horizon on the train files. "
        "Brier / log loss / ECE (10 bins) with 95 % intervals from a bootstrap over test days.")
    out()
    pooled: dict[str, list[np.ndarray]] = {"model": [], "recalibrated": [], "y": []}
    pooled_days: list[date] = []
    for ml in HORIZONS:
        rows = []
        for cfg in (best, configs[-2], configs[-1]):
            f_test = [forecasts(c, wins[c.name], sigmas[cfg.label][c.name], ml) for c in test]
            p = np.array([v for f in f_test for v in f.p])
            y = np.array([v for f in f_test for v in f.y], dtype=float)
            days = [d for f in f_test for d in f.day]
            boot = DayBootstrap(days, reps, seed=ml)
            rows.append(_metrics_row(cfg.label, p, y, boot))
            if cfg is best:
                f_train = [forecasts(c, wins[c.name], sigmas[cfg.label][c.name], ml) for c in train]
                w = fit_logistic(logits([v for f in f_train for v in f.p]), [v for f in f_train for v in f.y])
                recal = LogisticRecalibration(float(w[0]), float(w[1]))
                pr = np.array([recal(v) for v in p])
                rows.append(_metrics_row(f"recalibrated (a={w[0]:.3f}, b={w[1]:.3f})", pr, y, boot))
                assert abs(calibration.brier(list(p), list(y)) - METRICS["brier"](p, y)) < 1e-12
                pooled["model"].append(p)
                pooled["recalibrated"].append(pr)
                pooled["y"].append(y)
                pooled_days += days
        out(f"**{ml} minutes left**")
        out()
        out.table(["σ estimator", "n", "Brier", "log loss", "ECE"], rows)
    y_all = np.concatenate(pooled["y"])
    boot = DayBootstrap(pooled_days, reps, seed=99)
    out("**All six horizons pooled**")
    out()
    out.table(["forecast", "n", "Brier", "log loss", "ECE"],
              [_metrics_row(f"{best.label}", np.concatenate(pooled["model"]), y_all, boot),
               _metrics_row("recalibrated per horizon", np.concatenate(pooled["recalibrated"]), y_all, boot)])


def _split(markets: Sequence[LadderMarket]) -> tuple[list[LadderMarket], list[LadderMarket]]:
    return ([m for m in markets if m.day <= KALSHI_TRAIN_END], [m for m in markets if m.day > KALSHI_TRAIN_END])


def fit_mid_recalibration(train: Sequence[LadderMarket]) -> dict[int, LogisticRecalibration]:
    out = {}
    for ml in range(0, 15):
        pts = [(m.quotes[ml].mid, m.yes) for m in train if ml in m.quotes]
        if len(pts) < 50:
            continue
        w = fit_logistic(logits([p for p, _ in pts]), [y for _, y in pts])
        out[ml] = LogisticRecalibration(float(w[0]), float(w[1]))
    return out


def market_mid(markets: Sequence[LadderMarket], universe: str, out: Report,
               reps: int) -> dict[int, LogisticRecalibration]:
    train, test = _split(markets)
    recal = fit_mid_recalibration(train)
    out(f"### {universe}: {len(train)} train markets, {len(test)} test markets")
    out()
    rows = []
    for ml in HORIZONS:
        pts = [(m.quotes[ml].mid, m.yes, m.day) for m in test if ml in m.quotes]
        p = np.array([v for v, _, _ in pts])
        y = np.array([v for _, v, _ in pts], dtype=float)
        boot = DayBootstrap([d for _, _, d in pts], reps, seed=100 + ml)
        r = recal[ml]
        pr = np.array([r(v) for v in p])
        rows.append([f"{ml} mid", *_metrics_row("", p, y, boot)[1:]])
        rows.append([f"{ml} recalibrated (a={r.intercept:.2f}, b={r.slope:.2f})", *_metrics_row("", pr, y, boot)[1:]])
    out.table(["minutes left", "n", "Brier", "log loss", "ECE"], rows)
    p_all = np.array([m.quotes[ml].mid for ml in HORIZONS for m in test if ml in m.quotes])
    y_all = np.array([m.yes for ml in HORIZONS for m in test if ml in m.quotes], dtype=float)
    d_all = [m.day for ml in HORIZONS for m in test if ml in m.quotes]
    r_all = np.array([recal[ml](m.quotes[ml].mid) for ml in HORIZONS for m in test if ml in m.quotes])
    boot = DayBootstrap(d_all, reps, seed=199)
    out.table(["all six horizons pooled", "n", "Brier", "log loss", "ECE"],
              [["mid", *_metrics_row("", p_all, y_all, boot)[1:]],
               ["recalibrated mid", *_metrics_row("", r_all, y_all, boot)[1:]]])
    return recal


def _trade_row(label: str, trades: Sequence[Trade], reps: int, seed: int) -> list[str]:
    if not trades:
        return [label, "0", "–", "–", "–"]
    pnl = np.array([t.pnl for t in trades])
    stake = np.array([t.stake for t in trades])
    days = DayBootstrap([t.day for t in trades], reps, seed)
    by_day = days.ratio(pnl, stake)
    per_contract = days.ratio(pnl, np.ones(len(pnl)))
    return [label, str(len(trades)), fmt_ci(*per_contract), fmt_ci(*by_day),
            f"{sum(t.pnl for t in trades):+.2f}"]


def trading(markets: Sequence[LadderMarket], universe: str, recal: dict[int, LogisticRecalibration],
            out: Report, reps: int) -> list[tuple[str, tuple[float, float, float]]]:
    train, test = _split(markets)

    def fair(ml: int, mid: float) -> float:
        return recal[ml](mid) if ml in recal else mid

    out(f"### {universe}")
    out()
    out("Unconditional taker entries on **train** (every market-minute 14…2 minutes left, both sides): "
        "mean P&L per contract after fees, by minutes left × price paid.")
    out()
    entries = all_taker_entries(train)
    groups = ((14, 11), (10, 7), (6, 4), (3, 2))
    buckets = [(i / 10, (i + 1) / 10) for i in range(10)]
    rows = []
    for hi, lo in groups:
        cells = []
        for a, b in buckets:
            sel = [t.pnl for t in entries if lo <= t.ml <= hi and a <= t.price < b]
            cells.append(f"{100 * np.mean(sel):+.1f}¢ ({len(sel)})" if len(sel) >= 20 else "–")
        rows.append([f"{hi}–{lo}", *cells])
    out.table(["min left", *[f"{a:.1f}–{b:.1f}" for a, b in buckets]], rows)

    verdicts: list[tuple[str, tuple[float, float, float]]] = []
    out("Rules with one parameter fitted on train (best P&L per dollar staked with at least "
        f"{MIN_TRAIN_TRADES} train trades), then judged once on test. P&L per contract and per dollar "
        "staked with 95 % intervals from a bootstrap over days.")
    out()
    rows = []
    for name, rule, grid in (
        ("taker on recalibrated mid, θ", lambda ms, v: taker_rule(ms, fair, v), TAKER_THETAS),
        ("maker (post-only) on recalibrated mid, θ", lambda ms, v: maker_rule(ms, fair, v), MAKER_THETAS),
        ("mean reversion (5-min z), z0", lambda ms, v: mean_reversion_rule(ms, v), MR_Z),
    ):
        scored = [(v, rule(train, v)) for v in grid]
        ok = [(v, t) for v, t in scored if len(t) >= MIN_TRAIN_TRADES] or scored
        chosen, train_trades = max(ok, key=lambda vt: per_dollar(vt[1]) if vt[1] else -1e9)
        test_trades = rule(test, chosen)
        rows.append(_trade_row(f"{name}={chosen:g} — train", train_trades, reps, 7))
        row = _trade_row(f"{name}={chosen:g} — **test**", test_trades, reps, 8)
        rows.append(row)
        if test_trades:
            pnl = np.array([t.pnl for t in test_trades])
            stake = np.array([t.stake for t in test_trades])
            verdicts.append((f"{universe}: {name}={chosen:g}",
                             DayBootstrap([t.day for t in test_trades], reps, 8).ratio(pnl, stake)))
    out.table(["rule", "trades", "P&L / contract ($)", "P&L / $ staked", "total ($)"], rows)
    return verdicts


def model_vs_mid(data: Path, out: Report, reps: int) -> tuple[float, float, float] | None:
    """The daemon's fair value and the market mid on the same markets, and kelly_volatility's entry rule
    with its default ``min_edge`` (nothing fitted here). Bootstrap over markets (two days only)."""
    entries = overlap_entries(data)
    out("## 4. Model against mid on the same markets (35 hours of SOL perp, June 1–2)")
    out()
    if not entries:
        out("No overlapping markets found.")
        out()
        return None
    y = np.array([e.yes for e in entries], dtype=float)
    model = np.array([e.model_yes for e in entries])
    mid = np.array([e.mid_yes for e in entries])
    pooled = np.array([calibration.sigmoid((calibration.logit(a) + calibration.logit(b)) / 2)
                       for a, b in zip(model, mid, strict=True)])
    boot = DayBootstrap([date.fromordinal(i + 1) for i in range(len(entries))], reps, seed=300)
    out(f"{len(entries)} KXSOL15M markets, one quote each at 8–14 minutes left (`book_entry`); the model "
        "prices from the perpetual's path (see `bench/edge_overlap.py`). `equal-weight pool` = σ of the "
        "mean of the two logits (not fitted: too few markets to fit weights). Intervals: bootstrap over markets.")
    out()
    out.table(["forecast", "n", "Brier", "log loss", "ECE"],
              [_metrics_row("model (EwmaVol one-hour, no floor)", model, y, boot),
               _metrics_row("market mid", mid, y, boot),
               _metrics_row("equal-weight pool", pooled, y, boot)])
    trades: list[Trade] = []
    min_edge = 0.03
    for i, e in enumerate(entries):
        p_fav = e.model_yes if e.fav_yes else 1 - e.model_yes
        options = [(p_fav - e.ask - taker_fee(e.ask), True, e.ask),
                   ((1 - p_fav) - (1 - e.bid) - taker_fee(1 - e.bid), False, 1 - e.bid)]
        edge, fav, price = max(options)
        if edge < min_edge:
            continue
        won = e.yes == e.fav_yes if fav else e.yes != e.fav_yes
        trades.append(Trade(date.fromordinal(i + 1), e.ticker, e.ml, fav == e.fav_yes, price,
                            (1.0 if won else 0.0) - price - taker_fee(price), price))
    out("`kelly_volatility`'s entry rule on these quotes (buy the side whose model edge after the taker fee "
        "is at least the default `min_edge` 0.03, one contract):")
    out()
    out.table(["rule", "trades", "P&L / contract ($)", "P&L / $ staked", "total ($)"],
              [_trade_row("kelly_volatility, min_edge 0.03", trades, reps, 301)])
    if not trades:
        return None
    pnl = np.array([t.pnl for t in trades])
    stake = np.array([t.stake for t in trades])
    return DayBootstrap([t.day for t in trades], reps, 301).ratio(pnl, stake)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "research.md")
    ap.add_argument("--reps", type=int, default=1000, help="bootstrap resamples")
    args = ap.parse_args(argv)
    started = time.monotonic()
    body = Report()
    vol_and_model(args.data, body, args.reps)
    markets = read_ladders(args.data)
    body("## 3. The market's own mid by minutes left (Kalshi ladder paths, test 2026-07-01 → 07-14)")
    body()
    body("`recalibrated mid` = σ(a + b·logit mid) fitted per horizon on train. Intervals: bootstrap over test days.")
    body()
    sol = [m for m in markets if m.coin == "SOL"]
    recal_sol = market_mid(sol, "KXSOL15M", body, args.reps)
    recal_all = market_mid(markets, "all six coins", body, args.reps)
    kelly = model_vs_mid(args.data, body, args.reps)
    body("## 5. Trading rules, out of sample")
    body()
    verdicts = trading(sol, "KXSOL15M", recal_sol, body, args.reps)
    verdicts += trading(markets, "all six coins", recal_all, body, args.reps)
    shown = [(n, v) for n, v in verdicts if v[1] > 0]
    if kelly is not None:
        verdicts.append(("KXSOL15M June 1-2: kelly_volatility default entry rule (not fitted)", kelly))
    body("## 6. The daemon's own loop: `kalshid backtest`")
    body()
    body("The daemon's strategy → sizing → risk (defaults on: $1 000 a trade, 5 positions, entry cutoff 60 s) → "
         "fill model → fees → settlement, replayed by `kalshid backtest` (`docs/backtesting.md`) with the built-in "
         "configuration. `perp`: the 23 ladder markets inside the perpetual's 35 hours (June 1–2, inside the "
         "train period; nothing was fitted on them). `none`: every SOL ladder market of the test period, "
         "no index (only book-driven strategies trade). Intervals: bootstrap over markets and over days; "
         "an interval over two days is not evidence of anything.")
    body()
    rows, charts = backtests(args.data, args.out.parent / "research")
    body.table(["command", "markets", "trades", "contracts", "P&L ($)", "fees ($)", "P&L / $ staked",
                "95 % CI (markets)", "95 % CI (days)", "days"], rows)
    body("`mean_reversion` with its defaults (20 samples over a 300-s lookback) never trades on per-minute "
         "quotes; the fitted variant of §5 is how its logic fares when it does. The `kelly_volatility` run is "
         "the only end-to-end replay of the daemon's default strategy on real quotes and a real price path: 23 "
         "markets over two days of the train period, with an interval over markets that includes zero, and on "
         "the 135 `book_entry` quotes of the same two days (§4) its entry rule lost. Neither is a claim either way.")
    body()
    for title, rel in charts:
        body(f"![{title}]({rel})")
        body()
    body("## 7. Verdict")
    body()
    for n, (est, lo, hi) in verdicts:
        body(f"- {n}: test P&L per dollar staked {est:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    body()
    if shown:
        body("Rules whose 95 % interval lies above zero: " + "; ".join(n for n, _ in shown) + ".")
    else:
        body("**No rule shows an out-of-sample edge with a 95 % interval above zero.** The daemon's "
             "default strategies therefore do not trade real money (`trading.allow_unproven_live = false`).")
    body()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(HEAD + "\n" + "\n".join(body.lines) + TAIL)
    print(f"wrote {args.out} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
