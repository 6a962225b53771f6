"""What the Kalshi WebSocket feed follows and how patiently: :class:`FeedConfig` and the channel names.

Read by the protocol (:mod:`.feedprotocol`: which channels, which markets' scale) and by its Trio
shell (:mod:`.ws`: timers, backoff, backpressure).
"""

from __future__ import annotations

import attrs

from kalshid.core.markets import INDEX_ID

MARKET_CHANNELS = ("orderbook_delta", "ticker", "trade")
USER_CHANNELS = ("fill", "user_orders", "market_positions")
LIFECYCLE_CHANNEL = "market_lifecycle_v2"
INDEX_CHANNEL = "cfbenchmarks_value"
BOOK = "orderbook_delta"
# Error codes after which the subscription is gone (10 channel error, 25 subscription buffer overflow):
# the channel is subscribed again.
TERMINAL_ERROR_CODES = frozenset({10, 25})


@attrs.frozen
class FeedConfig:
    """What to follow and how patiently. ``market_channels`` follow
    :meth:`~kalshid.exchange.kalshi.ws.KalshiFeed.set_markets`."""

    ws_url: str
    index_ids: tuple[str, ...] = (INDEX_ID,)
    market_channels: tuple[str, ...] = MARKET_CHANNELS
    user_channels: tuple[str, ...] = USER_CHANNELS
    lifecycle: bool = True
    watchdog_s: float = 30.0
    pong_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_block_s: float = 10.0
    flush_interval_s: float = 0.05
    batch_limit: int = 256  # messages handled per scheduler step at most
    # The orderbook scale is always asked for explicitly (Kalshi's default will change): False = NO
    # levels as NO bids, True = NO levels as YES prices (turned back into NO bids on receipt).
    use_yes_price: bool = False
