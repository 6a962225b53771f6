"""The fill model: how the replay's orders would have filled against recorded markets.

Stated rules (every report quotes :meth:`FillModel.describe`):

**Taker (immediate-or-cancel) orders** arrive ``latency_seconds`` after the decision and fill against
the book as it stands *just before the first event at or after arrival* (at zero latency: the book
the strategy saw). A YES buy takes the NO bids (YES ask = $1 − NO bid), best first, walking the
recorded depth down to the order's limit; the rest of the order is cancelled. Where a source has no
depth, the top level's size is the source's (for sources without sizes, an assumed depth the report
states).

**Liquidity is never reused.** Contracts taken at a price level are remembered per market, side and
price; later orders see the recorded size minus what the replay already took. The memory at a level
only shrinks when the recorded size itself drops below it (the real market took or cancelled those
contracts too), so a book that keeps showing the same size does not refill the replay's own fills.

**Resting orders** (post-only or good-till-cancelled limit orders) rest from ``latency_seconds`` after
the decision and fill only when the market *trades through* them after that: a YES buy at ``p`` when a
trade printed strictly after the order came to rest prints below ``p`` (for a candle, its YES low), a NO
buy at ``q`` when such a trade prints above ``$1 − q``. A touch is not a fill, and neither is a trade
printed at the decision's own exchange time or earlier (a candle that ends at the decision covers the
minute before it: the order did not exist yet), nor one printed while the order was on its way. An
order that would arrive at or through the ask does not rest (the engine refuses a post-only one and
fills a good-till-cancelled one's crossing part as a taker order). A traded-through order
fills whole with probability ``p_fill_losing`` (0.962) if its side goes on to lose and ``p_fill_winning``
(0.843) if it wins: the adverse selection measured on real Kalshi 15-minute crypto markets. The draw
is a deterministic hash of the seed and the order's id, so a replay repeats exactly.

**Fees**: takers pay Kalshi's exact fee on the order (``ceil_to_cent(0.07·C·P·(1−P))``, summed over
the order's fills so the order pays one fee); makers pay the maker fee (zero on KXSOL15M).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

import attrs

from kalshid.core.fees import fee_terms, maker_fee_cc, order_fee_increment_cc
from kalshid.core.units import ONE_DOLLAR_CC, complement
from kalshid.core.vocab import Side
from kalshid.research.events import BookTick, TradePrint

P_FILL_LOSING = 0.962
P_FILL_WINNING = 0.843


@attrs.frozen
class FillSettings:
    latency_seconds: float = 0.25
    p_fill_losing: float = P_FILL_LOSING
    p_fill_winning: float = P_FILL_WINNING
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.latency_seconds < 0:
            raise ValueError(f"latency_seconds must be >= 0, got {self.latency_seconds}")
        for name in ("p_fill_losing", "p_fill_winning"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@attrs.frozen
class ModelFill:
    """One execution produced by the model (``price_cc`` in the order side's terms)."""

    count: int
    price_cc: int
    fee_cc: int
    is_taker: bool


@attrs.define
class RestingBuy:
    """A resting buy the model may fill on a trade-through. ``order_id`` keys the deterministic draw;
    ``rests_from`` is when it reached the book (decision + latency): only trades printed after it count."""

    order_id: str
    ticker: str
    side: Side
    price_cc: int
    count: int
    rests_from: datetime


class FillModel:
    """Taker fills against recorded depth without reusing liquidity, and trade-through resting fills.

    ``results`` (ticker → winning side) is hindsight used *only* to apply the measured adverse
    selection to resting orders; taker fills never look at it.
    """

    def __init__(self, settings: FillSettings | None = None, results: Mapping[str, Side] | None = None) -> None:
        self.settings = settings or FillSettings()
        self.results = dict(results or {})
        # liquidity the replay took and the book still shows: ticker -> (bid side, price) -> count; a
        # market appears only while something is remembered in it, so it is empty most of the time,
        # when on_book has nothing to do
        self.taken: dict[str, dict[tuple[Side, int], int]] = {}

    def describe(self) -> dict[str, object]:
        s = self.settings
        return {
            "taker": "fills at the displayed ask after the latency, walking recorded depth to the limit; "
                     "liquidity the replay took is never offered again; the unfilled rest is cancelled (IOC)",
            "latency_seconds": s.latency_seconds,
            "resting": "rests from the latency after the decision; fills only when a trade printed after that "
                       "goes through the price (a touch is not a fill), with probability by the side's eventual "
                       "outcome (adverse selection); at or through the ask on arrival it does not rest: "
                       "post-only is refused, good-till-cancelled takes what it crosses as a taker",
            "p_fill_losing": s.p_fill_losing,
            "p_fill_winning": s.p_fill_winning,
            "seed": s.seed,
            "fees": "Kalshi's exact taker fee per order; maker fee per series (zero on KXSOL15M)",
        }

    # --- book memory --------------------------------------------------------------------------
    def on_book(self, tick: BookTick) -> None:
        """Forget taken liquidity the recorded book no longer shows (see the module docstring)."""
        ticker = tick.top.ticker
        memory = self.taken.get(ticker)
        if memory is None:
            return
        for key, count in list(memory.items()):
            bid_side, price = key
            shown = 0  # the size the ladder shows at the key's price (its last level there, as a dict reads it)
            for price_cc, size in tick.bids(bid_side):
                if price_cc == price:
                    shown = size
            if shown < count:
                if shown <= 0:
                    del memory[key]
                else:
                    memory[key] = shown
        if not memory:
            del self.taken[ticker]

    def forget_market(self, ticker: str) -> None:
        self.taken.pop(ticker, None)

    def available(self, ticker: str, bid_side: Side, price_cc: int, shown: int) -> int:
        memory = self.taken.get(ticker)
        taken = 0 if memory is None else memory.get((bid_side, price_cc), 0)
        return max(0, shown - taken)

    # --- taker --------------------------------------------------------------------------------
    def take(self, book: BookTick | None, side: Side, count: int, limit_cc: int) -> list[ModelFill]:
        """Buy up to ``count`` of ``side`` at prices <= ``limit_cc`` from ``book``; the fills, best first.

        Consumes the liquidity it takes. The fees of the returned fills add up to the order's fee.
        """
        if book is None or count <= 0:
            return []
        ticker = book.ticker
        opposite = side.other  # buying YES lifts the NO bids
        fills: list[ModelFill] = []
        terms = 0
        left = count
        for bid_cc, shown in book.bids(opposite):
            price = complement(bid_cc)
            if price > limit_cc or left <= 0:
                break
            n = min(left, self.available(ticker, opposite, bid_cc, shown))
            if n <= 0:
                continue
            new_terms = fee_terms(n, price)
            fee = order_fee_increment_cc(terms, new_terms)
            terms += new_terms
            memory = self.taken.setdefault(ticker, {})
            memory[opposite, bid_cc] = memory.get((opposite, bid_cc), 0) + n
            fills.append(ModelFill(n, price, fee, True))
            left -= n
        return fills

    # --- resting ------------------------------------------------------------------------------
    def traded_through(self, order: RestingBuy, trade: TradePrint) -> bool:
        """True when ``trade`` printed strictly through ``order``'s price, strictly after the order came to
        rest (a trade at or before ``rests_from`` happened before the order could be on the book)."""
        if trade.ticker != order.ticker or trade.ts <= order.rests_from:
            return False
        if order.side is Side.YES:
            return trade.yes_low_cc < order.price_cc
        return trade.yes_high_cc > ONE_DOLLAR_CC - order.price_cc

    def fill_probability(self, order: RestingBuy) -> float:
        """P(fill | traded through) for ``order``, by whether its side wins (1.0 if the result is unknown)."""
        result = self.results.get(order.ticker)
        if result is None:
            return 1.0
        return self.settings.p_fill_winning if result is order.side else self.settings.p_fill_losing

    def draw(self, order_id: str) -> float:
        """A uniform number in [0, 1) from the seed and the order id (stable across runs and machines)."""
        digest = hashlib.blake2b(f"{self.settings.seed}:{order_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    def on_trade(self, order: RestingBuy, trade: TradePrint, *, fee_type: str = "quadratic") -> ModelFill | None:
        """The resting order's fill on ``trade``, or ``None``. A filled order is filled whole at its price."""
        if order.count <= 0 or not self.traded_through(order, trade):
            return None
        if self.draw(order.order_id) >= self.fill_probability(order):
            return None
        return ModelFill(order.count, order.price_cc, maker_fee_cc(order.count, order.price_cc, fee_type=fee_type),
                         False)
