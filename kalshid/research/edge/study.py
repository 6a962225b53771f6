"""The edge study's parts: volatility memory, calibration of model / market mid / recalibrated mid by
minutes left, and whether any trading rule makes money out of sample.

Run through ``kalshid backtest --study NAME --out DIR`` (:mod:`kalshid.research.edge.cli`), which
writes each part's tables as markdown and JSON. Deterministic (fixed bootstrap seeds).

The train/test split is fixed here, before any result, and nothing is fitted on a test period:

- SOL 1-minute candles: train = the five files 2021-10 → 2024-02, test = 2024-10-01 → 2024-11-04.
- Kalshi ladder paths (closes 2026-05-25 → 2026-07-14, ET dates): train = up to 2026-06-30,
  test = 2026-07-01 → 2026-07-14.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path

import numpy as np

from kalshid.core import calibration
from kalshid.core.calibration import LogisticRecalibration
from kalshid.core.pooling import WINDOW_MINUTES, LogitPool, PoolSample, fit_logit_pool
from kalshid.core.portfolio import window_close
from kalshid.research.edge.data import LadderMarket, read_candles, sol_candle_files
from kalshid.research.edge.overlap import Overlap, overlap_entries
from kalshid.research.edge.stats import METRICS, DayBootstrap, fit_logistic, fmt_ci, logits
from kalshid.research.edge.trade import (
    Trade,
    all_taker_entries,
    maker_rule,
    mean_reversion_rule,
    per_dollar,
    taker_fee,
    taker_rule,
    taker_trade,
)
from kalshid.research.edge.vol import Forecasts, VolConfig, forecasts, sigma_path, vol_nll, windows

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


class Report:
    """Markdown lines of one section, and its tables as data (``tables``: title, headers, rows)."""

    def __init__(self, echo: bool = False) -> None:
        self.lines: list[str] = []
        self.tables: list[dict[str, object]] = []
        self.title = ""
        self.echo = echo

    def __call__(self, line: str = "") -> None:
        self.lines.append(line)
        if line.startswith("#") or (line.startswith("**") and line.endswith("**")):
            self.title = line.strip("#* ")
        if self.echo:
            print(line, flush=True)

    def table(self, head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.tables.append({"title": self.title, "headers": list(head), "rows": [list(r) for r in rows]})
        self("| " + " | ".join(head) + " |")
        self("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            self("| " + " | ".join(r) + " |")
        self()


def _metrics_row(label: str, p: np.ndarray, y: np.ndarray, boot: DayBootstrap) -> list[str]:
    return [label, str(len(p))] + [fmt_ci(*boot.metric(p, y, fn), digits=4) for fn in METRICS.values()]


def vol_and_model(data: Path, out: Report, reps: int) -> dict[str, object]:
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
    best_train = {ml: [forecasts(c, wins[c.name], sigmas[best.label][c.name], ml) for c in train]
                  for ml in HORIZONS}
    daemon_recal = fit_daemon_recalibration(best_train)
    out(f"`daemon form` = the same recalibration as the daemon applies it: `kelly_volatility`'s `pool_*` "
        f"with both mid weights zero, one intercept and a model weight linear in minutes left, fitted on the "
        f"train files over all six horizons at once (bias {daemon_recal.bias:.4f}, model weight "
        f"{daemon_recal.model_at_close:.4f} at the close → {daemon_recal.model_at_open:.4f} 15 minutes out; "
        f"these are the daemon's defaults).")
    out()
    pooled: dict[str, list[np.ndarray]] = {"model": [], "recalibrated": [], "daemon": [], "y": []}
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
                f_train = best_train[ml]
                w = fit_logistic(logits([v for f in f_train for v in f.p]), [v for f in f_train for v in f.y])
                recal = LogisticRecalibration(float(w[0]), float(w[1]))
                pr = np.array([recal(v) for v in p])
                rows.append(_metrics_row(f"recalibrated (a={w[0]:.3f}, b={w[1]:.3f})", pr, y, boot))
                assert abs(calibration.brier(list(p), list(y)) - METRICS["brier"](p, y)) < 1e-12
                pooled["model"].append(p)
                pooled["recalibrated"].append(pr)
                pd_ = np.array([daemon_recal(v, None, float(ml)) for v in p])
                rows.append(_metrics_row("recalibrated, daemon form", pd_, y, boot))
                pooled["daemon"].append(pd_)
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
               _metrics_row("recalibrated per horizon", np.concatenate(pooled["recalibrated"]), y_all, boot),
               _metrics_row("recalibrated, daemon form", np.concatenate(pooled["daemon"]), y_all, boot)])
    return {"recalibration": daemon_recal.as_params()}


def fit_daemon_recalibration(train: Mapping[int, Sequence[Forecasts]]) -> LogitPool:
    """The model's recalibration in the daemon's form (a :class:`LogitPool` without the mid), fitted by
    maximum likelihood on train forecasts at every horizon: ``logit p' = bias + (a + b·m/15)·logit p``."""
    feats: list[list[float]] = []
    ys: list[bool] = []
    for ml, fs in train.items():
        x = ml / WINDOW_MINUTES
        for f in fs:
            for p, y in zip(f.p, f.y, strict=True):
                lp = calibration.logit(p)
                feats.append([lp, x * lp])
                ys.append(bool(y))
    bias, a, b = (float(v) for v in fit_logistic(feats, ys))
    return LogitPool(bias=bias, model_at_close=a, model_at_open=a + b)


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
    rules: list[tuple[str, Callable[[Sequence[LadderMarket], float], list[Trade]], Sequence[float]]] = [
        ("taker on recalibrated mid, θ", lambda ms, v: taker_rule(ms, fair, v), TAKER_THETAS),
        ("maker (post-only) on recalibrated mid, θ", lambda ms, v: maker_rule(ms, fair, v), MAKER_THETAS),
        ("mean reversion (5-min z), z0", lambda ms, v: mean_reversion_rule(ms, v), MR_Z),
    ]
    for name, rule, grid in rules:
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
        "prices from the perpetual's path (see `kalshid/research/edge/overlap.py`). `equal-weight pool` = σ of the "
        "mean of the two logits (not fitted). Intervals: bootstrap over markets.")
    out()
    out.table(["forecast", "n", "Brier", "log loss", "ECE"],
              [_metrics_row("model (EwmaVol one-hour, no floor)", model, y, boot),
               _metrics_row("market mid", mid, y, boot),
               _metrics_row("equal-weight pool", pooled, y, boot)])
    _fitted_pool_on_overlap(entries, out, reps)
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
        trades.append(taker_trade(date.fromordinal(i + 1), e.ticker, e.ml, fav == e.fav_yes, price, won))
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


def _fitted_pool_on_overlap(entries: Sequence[Overlap], out: Report, reps: int) -> None:
    """The core pool (:func:`kalshid.core.pooling.fit_logit_pool`) fitted on the first day's quotes and
    scored on the second day's, against the model and the mid on those same quotes."""
    days = sorted({window_close(e.ticker).date() for e in entries})
    if len(days) < 2:
        return
    train = [e for e in entries if window_close(e.ticker).date() < days[-1]]
    test = [e for e in entries if window_close(e.ticker).date() == days[-1]]
    pool = fit_logit_pool([PoolSample(e.ml, e.model_yes, e.mid_yes, e.yes) for e in train])
    y = np.array([e.yes for e in test], dtype=float)
    boot = DayBootstrap([date.fromordinal(i + 1) for i in range(len(test))], reps, seed=302)
    w = pool.as_params()
    out(f"Pool of model and mid fitted by `kalshid.core.pooling.fit_logit_pool` on the {len(train)} quotes of "
        f"{', '.join(d.isoformat() for d in days[:-1])} (bias {w['pool_bias']:.2f}, model weight "
        f"{w['pool_model_at_close']:.2f}→{w['pool_model_at_open']:.2f}, mid weight {w['pool_mid_at_close']:.2f}→"
        f"{w['pool_mid_at_open']:.2f} from the close to 15 minutes out), scored on the {len(test)} quotes of "
        f"{days[-1].isoformat()}. Intervals: bootstrap over markets.")
    out()
    out.table(["forecast (test day)", "n", "Brier", "log loss", "ECE"],
              [_metrics_row("model", np.array([e.model_yes for e in test]), y, boot),
               _metrics_row("market mid", np.array([e.mid_yes for e in test]), y, boot),
               _metrics_row("fitted pool", np.array([pool(e.model_yes, e.mid_yes, e.ml) for e in test]), y, boot)])
