"""The configuration tree: frozen attrs classes, their defaults, and what each value may be.

Every leaf is addressed as ``section.key`` (``strategies.kelly_volatility.min_edge`` for the nested
strategy parameters). Naming rules the loader relies on:

- A field whose name ends in ``_cc`` is **money**: it is stored as integer centi-cents
  (``kalshid.core.units``), while its config key drops the suffix and takes dollars
  (``risk.max_daily_loss = "500"`` -> ``RiskConfig.max_daily_loss_cc == 5_000_000``).
- ``metadata["expect"]`` says in words what a value may be; it is quoted in error messages.
- ``metadata["secret"]`` is ``"prefix"`` (show the first 4 characters) or ``"full"`` (show nothing).
- ``metadata`` bounds (``gt``/``ge``/``lt``/``le``) are checked by
  :func:`kalshid.config.rules.range_problems`; ``metadata["nonempty"]`` marks a string that must not be
  empty (a host or a path the daemon creates).

The tree's leaves and the rules over them (bounds, cross-field rules such as a medium z-score above
the high one, the API token's strength) live in :mod:`kalshid.config.rules`.
"""

# ruff: noqa: RUF009  (``_f``/``_money`` return ``attrs.field(...)``; ruff cannot see that)
import datetime as dt
from decimal import Decimal
from typing import Any, Literal, NewType

import attrs

Cc = NewType("Cc", int)
"""Money in centi-cents ($1 = 10 000 cc). Config files and variables give it in dollars."""

KNOWN_STRATEGIES = ("kelly_volatility", "mean_reversion")
# mean_reversion is off by default: it lost money in and out of sample (docs/research.md)
DEFAULT_STRATEGIES = ("kelly_volatility",)
ExchangeEnv = Literal["sim", "demo", "prod"]
# the fee types the simulator charges (kalshid.sim.counts.SIM_FEE_TYPES)
SimFeeType = Literal["quadratic", "quadratic_with_maker_fees", "quadratic_with_combo_maker_fees"]
SIM_FEE_TYPES = ("quadratic", "quadratic_with_maker_fees", "quadratic_with_combo_maker_fees")

PROD_API_URL = "https://external-api.kalshi.com/trade-api/v2"
PROD_WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
DEMO_API_URL = "https://external-api.demo.kalshi.co/trade-api/v2"
DEMO_WS_URL = "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"


def _f(default: Any, expect: str, **meta: Any) -> Any:
    """A field with a default, the words for what it may hold, and optional bounds or secrecy."""
    return attrs.field(default=default, metadata={"expect": expect, **meta})


def _money(dollars: int, expect: str = "a dollar amount >= 0 with at most 4 decimals", **meta: Any) -> Any:
    return attrs.field(default=Cc(dollars * 10_000), metadata={"expect": expect, "ge": 0, **meta})


@attrs.frozen
class ExchangeConfig:
    """Where orders go and how requests are signed.

    ``env``: ``sim`` (the embedded simulator; the default), ``demo`` or ``prod``. Empty URLs mean the
    official hosts for demo/prod and the embedded simulator for sim; the loader fills them in.
    """

    env: ExchangeEnv = _f("sim", "one of sim, demo, prod")
    api_base_url: str = _f("", "an http(s) URL ending in /trade-api/v2 (empty: the env's default)")
    ws_url: str = _f("", "a ws(s) URL ending in /trade-api/ws/v2 (empty: derived)")
    api_key: str = _f("", "the Kalshi API key id (a UUID)", secret="prefix")
    private_key_path: str = _f("", "a path to an RSA private key PEM (empty: none)")
    private_key_passphrase: str = _f("", "the PEM passphrase (empty: key not encrypted)", secret="full")
    request_timeout: float = _f(10.0, "seconds > 0", gt=0)
    read_rate_limit: float = _f(200.0, "read tokens per second > 0 (Kalshi Basic tier: 200)", gt=0)
    write_rate_limit: float = _f(100.0, "write tokens per second > 0 (Kalshi Basic tier: 100)", gt=0)
    underlying: Literal["index", "coinbase"] = _f(
        "index", "one of index (the SOLUSD_RTI settlement index on Kalshi's WebSocket), coinbase "
                 "(Coinbase SOL-USD spot, adjusted by the tracked basis to the index)")
    spot_url: str = _f("", "a ws(s) URL of a Coinbase Exchange-compatible feed (empty: off, or "
                           "wss://ws-feed.exchange.coinbase.com when underlying = coinbase)")
    presign_orders: bool = _f(True, "a boolean (sign the next order request ahead of time, in a worker "
                                    "thread; each signature is used once, within 0.5 s)")
    order_lane: bool = _f(True, "a boolean (keep a connection open for order requests only, so an order "
                                "is written to the socket without waiting on httpx's connection pool)")


@attrs.frozen
class TradingConfig:
    """What the daemon trades with. A dry run never sends an order: fills are simulated locally.

    ``dry_run`` unset means *auto*: false on the ``sim`` exchange (orders go to the simulator, which is
    play money), true on ``demo`` and ``prod``. Use :attr:`Config.dry_run` for the effective value.
    ``allow_unproven_live`` false (the default): on prod without a dry run, strategies without a
    recorded out-of-sample edge (:mod:`kalshid.core.strategies.evidence`) are not enabled.
    """

    dry_run: bool | None = _f(None, "a boolean (true/false, yes/no, on/off, 1/0); empty: auto "
                                    "(false on sim, true on demo and prod)")
    enabled_strategies: tuple[str, ...] = _f(
        DEFAULT_STRATEGIES, f"a comma-separated list of {', '.join(KNOWN_STRATEGIES)}"
    )
    bankroll_cc: Cc = _money(10_000, "a dollar amount > 0 with at most 4 decimals", gt=0)
    allow_unproven_live: bool = _f(False, "a boolean (let strategies without an out-of-sample edge in "
                                          "docs/research.md trade real money on prod)")
    cancel_on_shutdown: bool = _f(True, "a boolean")
    shutdown_grace_seconds: float = _f(10.0, "seconds > 0 allowed for draining on shutdown", gt=0)
    start_stopped: bool = _f(False, "a boolean (start with trading stopped until `kalshid ctl start`; "
                                    "`kalshid run --stopped` sets it for one start)")
    position_audit_seconds: float = _f(60.0, "seconds >= 0 between comparisons of the journal's positions with "
                                             "the exchange's while trading (0: none)", ge=0)


@attrs.frozen
class RiskConfig:
    """Hard limits every order passes, and the circuit breakers."""

    max_position_size_cc: Cc = _money(1_000, "a dollar amount > 0 (capital per trade)", gt=0)
    max_daily_loss_cc: Cc = _money(500, "a dollar amount > 0", gt=0)
    max_concurrent_positions: int = _f(5, "an integer >= 1", ge=1)
    max_window_exposure_cc: Cc = _money(1_000, "a dollar amount > 0 (capital per 15-minute window)", gt=0)
    breaker_daily_loss_fraction: float = _f(0.20, "a fraction in (0, 1]", gt=0, le=1)
    breaker_drawdown_fraction: float = _f(0.15, "a fraction in (0, 1]", gt=0, le=1)
    entry_cutoff_seconds: int = _f(60, "whole seconds in [0, 900) before close with no new entries", ge=0, lt=900)
    max_data_age_seconds: float = _f(5.0, "seconds > 0", gt=0)


@attrs.frozen
class KellyVolatilityParams:
    """Kelly-sized volatility arbitrage: EWMA vol -> P(up) vs the market's price."""

    min_edge: float = _f(0.03, "a probability edge in [0, 1]", ge=0, le=1)
    vol_half_life_seconds: float = _f(3600.0, "seconds in (0, 2592000] (30 days): the volatility EWMA's half-life",
                                      gt=0, le=30 * 86_400)
    microstructure_floor: float = _f(0.0, "a volatility floor per sqrt(minute) in [0, 1] (0: none)", ge=0, le=1)
    kelly_fraction: float = _f(0.25, "a fraction of full Kelly in (0, 1]", gt=0, le=1)
    warmup_seconds: float = _f(30.0, "seconds in [0, 86400] of index evidence before the volatility estimate is "
                                     "trusted", ge=0, le=86_400)
    # logit pool of the model with the book mid (kalshid.core.pooling). The defaults recalibrate the model
    # alone (no mid weight), fitted on SOL candles of the training period (docs/research.md, part 2);
    # `kalshid backtest --fit-pool FILE` writes fitted values for all five keys.
    pool_bias: float = _f(-0.0106, "a number in [-100, 100]: the pooled logit's intercept", ge=-100, le=100)
    pool_model_at_close: float = _f(1.2892, "a number in [-100, 100]: the model's logit weight at the close",
                                    ge=-100, le=100)
    pool_model_at_open: float = _f(0.9300, "a number in [-100, 100]: the model's logit weight 15 minutes out",
                                   ge=-100, le=100)
    pool_mid_at_close: float = _f(0.0, "a number in [-100, 100]: the book mid's logit weight at the close",
                                  ge=-100, le=100)
    pool_mid_at_open: float = _f(0.0, "a number in [-100, 100]: the book mid's logit weight 15 minutes out",
                                 ge=-100, le=100)


@attrs.frozen
class MeanReversionParams:
    """Fade extreme moves of the YES price: its z-score against its mean over a lookback window."""

    lookback_window: int = _f(300, "whole seconds in (0, 86400]", gt=0, le=86_400)
    zscore_threshold_high: float = _f(2.0, "a z-score in (0, 100]", gt=0, le=100)
    zscore_threshold_medium: float = _f(1.5, "a z-score in (0, 100]", gt=0, le=100)
    min_edge: float = _f(0.03, "a probability edge in [0, 1]", ge=0, le=1)
    kelly_fraction: float = _f(0.25, "a fraction of full Kelly in (0, 1]", gt=0, le=1)
    min_samples: int = _f(20, "an integer >= 2: YES-price samples needed before a z-score", ge=2)


@attrs.frozen
class StrategiesConfig:
    kelly_volatility: KellyVolatilityParams = attrs.field(factory=KellyVolatilityParams)
    mean_reversion: MeanReversionParams = attrs.field(factory=MeanReversionParams)


@attrs.frozen
class ApiConfig:
    """The HTTP/WebSocket control API (loopback by default; a token is required off loopback)."""

    host: str = _f("127.0.0.1", "a host name or IP address", nonempty=True)
    port: int = _f(8000, "a TCP port in [0, 65535] (0: any free port)", ge=0, le=65535)
    token: str = _f("", "a bearer token (empty: see token_file)", secret="full")
    token_file: str = _f("", "a path to a file holding the bearer token, generated (0600) if absent (empty: "
                             "$CREDENTIALS_DIRECTORY/api-token when it exists, else api-token in "
                             "$STATE_DIRECTORY or journal.dir)")
    cors_origins: tuple[str, ...] = _f((), "a comma-separated list of origins")
    max_request_bytes: int = _f(65_536, "bytes >= 1024", ge=1024)


@attrs.frozen
class ControlConfig:
    socket_path: str = _f("var/kalshid.sock", "a filesystem path for the control socket", nonempty=True)


@attrs.frozen
class JournalConfig:
    """The SQLite journal. Dry run and live runs never share a database (see ``Config.journal_path``)."""

    dir: str = _f("var", "a directory for the journal databases", nonempty=True)
    path: str = _f("", "an explicit database path (empty: <dir>/kalshid-<env>.sqlite3, "
                       "or kalshid-<env>-dry.sqlite3 for a dry run)")
    # false: an order's intent is written (safe from a crash) before the send and fdatasynced while the
    # order is in flight; a power cut in that ~1 ms leaves the order to reconciliation (its fills booked,
    # the order adopted if it rests).
    # true: fdatasynced before the send, adding the disk's flush time (~1 ms here) to every order.
    fsync_before_send: bool = _f(False, "a boolean")
    refusals_retention_days: float = _f(30.0, "days >= 0 of exchange time a refused decision (signal and "
                                              "verdict) is kept (0: for good); orders and fills are kept for good",
                                        ge=0)


@attrs.frozen
class LogConfig:
    level: Literal["debug", "info", "warning", "error"] = _f("info", "one of debug, info, warning, error")
    format: Literal["auto", "json", "console"] = _f("auto", "one of auto, json, console")
    file: Literal["auto", "on", "off"] = _f("auto", "one of auto (on unless under systemd), on, off")
    file_dir: str = _f("logs", "a directory for the daily log file", nonempty=True)
    heartbeat_seconds: float = _f(60.0, "seconds > 0 between heartbeat lines", gt=0)


@attrs.frozen
class SimConfig:
    """The Kalshi-compatible simulator (``kalshid sim``, or embedded when ``exchange.env = sim``)."""

    host: str = _f("127.0.0.1", "a loopback address (the simulator binds to loopback only)", nonempty=True)
    port: int = _f(0, "a TCP port in [0, 65535] (0: any free port)", ge=0, le=65535)
    speed: float = _f(1.0, "a clock speed-up factor > 0", gt=0)
    seed: int | None = _f(None, "an integer random seed (empty: random)")
    start: dt.datetime | None = _f(None, "an ISO-8601 time with a UTC offset (empty: now)")
    balance_cc: Cc = _money(10_000)
    faults: str = _f("", "a fault-injection spec (see kalshid sim --help)")
    history_markets: int = _f(192, "an integer >= 1: settled markets whose orders, fills and settlements "
                                   "the simulator keeps (96 a day; older ones are forgotten)", ge=1)
    fee_type: SimFeeType = _f("quadratic", f"one of {', '.join(SIM_FEE_TYPES)}: the series' fee_type (Kalshi's "
                                           "KXSOL15M: quadratic)")
    fee_multiplier: Decimal = _f(Decimal(1), "a number >= 0: the series' fee_multiplier, charged on the "
                                              "simulator's fills (Kalshi's KXSOL15M: 1)", ge=0)
    event_fee_type_override: SimFeeType | None = _f(None, f"empty (no override) or one of {', '.join(SIM_FEE_TYPES)}: "
                                                          "every event's fee_type_override")
    event_fee_multiplier_override: Decimal | None = _f(None, "empty (no override) or a number >= 0: every event's "
                                                             "fee_multiplier_override", ge=0)


@attrs.frozen
class ChannelsConfig:
    """Bounded channel sizes: a slow consumer must show up as back-pressure, never as memory growth."""

    market_data: int = _f(64, "an integer buffer size >= 0", ge=0)
    orders: int = _f(16, "an integer buffer size >= 0", ge=0)
    fills: int = _f(64, "an integer buffer size >= 0", ge=0)
    events: int = _f(256, "an integer buffer size >= 0 (API/WebSocket broadcast)", ge=0)


@attrs.frozen
class RecordConfig:
    """Market-data recording (``kalshid record``, and inside ``kalshid run``): every feed event, with
    exchange and receive times, as Parquet under ``<dir>/series=<S>/date=<D>/hour=<H>/``.

    The Parquet work runs in a recorder process (:mod:`kalshid.research.recorder_link`); the trading
    path only appends each event to a bounded batch, so recording is on by default: its cost on
    tick-to-order is within the run-to-run spread (docs/performance.md). ``kalshid record`` records
    without trading."""

    enabled: bool = _f(True, "a boolean (record inside kalshid run)")
    dir: str = _f("", "a directory for recordings (empty: <journal.dir>/recordings)")
    retention_days: float = _f(14.0, "days > 0 of recordings kept (older hours are deleted)", gt=0)
    flush_seconds: float = _f(2.0, "seconds > 0 between chunk writes (at most this much is lost on a crash)", gt=0)
    queue_size: int = _f(65_536, "an integer >= 1: events waiting for the recorder before new ones are "
                                 "dropped (recording never holds up trading)", ge=1)
    min_free_mb: int = _f(1024, "an integer >= 0: megabytes (MiB) to leave free on the recordings' disk; "
                                "below it recording pauses until 10 % more is free (0: never)", ge=0)


@attrs.frozen
class RuntimeConfig:
    """Process placement (Linux). ``loop_cpu`` pins the event-loop thread to one CPU; the helper
    threads (journal, signing, log writer) then run on the others. See :mod:`kalshid.threads`."""

    loop_cpu: int | None = _f(None, "a CPU number >= 0 this process may use (empty: not pinned)", ge=0)


@attrs.frozen
class AlertsConfig:
    """Notifications through Apprise (``docs/alerts.md``): one URL per target (``tgram://``, ``discord://``,
    ``slack://``, ``ntfy://``, ``mailto://``, ``json://``...). No URLs from ``urls`` or ``urls_file``: off."""

    urls: tuple[str, ...] = _f((), "a comma-separated list of Apprise URLs", secret="full")
    urls_file: str = _f("", "a file with one Apprise URL per line (empty: $CREDENTIALS_DIRECTORY/alert-urls "
                            "when it exists)")
    fills: bool = _f(False, "a boolean: also send an alert for every fill")
    feed_down_seconds: float = _f(60.0, "seconds > 0 the exchange connection may be down before an alert", gt=0)
    order_error_burst: int = _f(3, "an integer >= 1: order errors within order_error_window_seconds that make "
                                   "an alert", ge=1)
    order_error_window_seconds: float = _f(60.0, "seconds > 0", gt=0)
    daily_summary_hour: int | None = _f(None, "a UTC hour 0-23 for the daily summary (empty: none)", ge=0, le=23)
    dedupe_seconds: float = _f(300.0, "seconds >= 0 during which an identical alert is not sent again", ge=0)
    max_per_hour: int = _f(30, "an integer >= 1: most alerts sent in any hour", ge=1)


attrs.resolve_types(AlertsConfig)


@attrs.frozen
class Config:
    """The whole effective configuration. Build it with :func:`kalshid.config.load_config`."""

    exchange: ExchangeConfig = attrs.field(factory=ExchangeConfig)
    trading: TradingConfig = attrs.field(factory=TradingConfig)
    risk: RiskConfig = attrs.field(factory=RiskConfig)
    strategies: StrategiesConfig = attrs.field(factory=StrategiesConfig)
    api: ApiConfig = attrs.field(factory=ApiConfig)
    control: ControlConfig = attrs.field(factory=ControlConfig)
    journal: JournalConfig = attrs.field(factory=JournalConfig)
    log: LogConfig = attrs.field(factory=LogConfig)
    sim: SimConfig = attrs.field(factory=SimConfig)
    channels: ChannelsConfig = attrs.field(factory=ChannelsConfig)
    runtime: RuntimeConfig = attrs.field(factory=RuntimeConfig)
    record: RecordConfig = attrs.field(factory=RecordConfig)
    alerts: AlertsConfig = attrs.field(factory=AlertsConfig)

    @property
    def dry_run(self) -> bool:
        """The effective dry-run flag: explicit ``trading.dry_run``, else false on sim only."""
        if self.trading.dry_run is not None:
            return self.trading.dry_run
        return self.exchange.env != "sim"

    @property
    def journal_path(self) -> str:
        """The journal database: explicit ``journal.path``, else one per exchange env and dry/live mode."""
        if self.journal.path:
            return self.journal.path
        suffix = "-dry" if self.dry_run else ""
        return f"{self.journal.dir.rstrip('/') or '.'}/kalshid-{self.exchange.env}{suffix}.sqlite3"

    @property
    def journal_mode(self) -> str:
        """The journal's mode (stored in the database, checked at open): dry, sim or live."""
        if self.dry_run:
            return "dry"
        return "sim" if self.exchange.env == "sim" else "live"


for _cls in (ExchangeConfig, TradingConfig, RiskConfig, KellyVolatilityParams, MeanReversionParams,
             StrategiesConfig, ApiConfig, ControlConfig, JournalConfig, LogConfig, SimConfig,
             ChannelsConfig, RuntimeConfig, RecordConfig, Config):
    attrs.resolve_types(_cls)
