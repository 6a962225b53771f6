"""The synthetic recordings: books that follow the index (the simulator's makers), or a stress case."""

from __future__ import annotations

import pytest

from kalshid.research.events import BookTick, IndexTick, MarketListed
from kalshid.research.synthetic import synthetic_recording


def _mids_against_moneyness(books: str) -> list[tuple[float, float]]:
    """``(index / strike − 1, YES mid)`` at every book tick of the current market."""
    strike: dict[str, float] = {}
    index = 0.0
    out = []
    for e in synthetic_recording(2.0, books=books):  # type: ignore[arg-type]
        if isinstance(e, MarketListed):
            assert e.floor_strike is not None
            strike[e.ticker] = e.floor_strike
        elif isinstance(e, IndexTick):
            index = e.price
        elif isinstance(e, BookTick) and e.top.yes_mid_prob is not None:
            out.append((index / strike[e.top.ticker] - 1, e.top.yes_mid_prob))
    return out


def _correlation(pairs: list[tuple[float, float]]) -> float:
    n = len(pairs)
    mx, my = sum(x for x, _ in pairs) / n, sum(y for _, y in pairs) / n
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx, syy = sum((x - mx) ** 2 for x, _ in pairs), sum((y - my) ** 2 for _, y in pairs)
    return sxy / (sxx * syy) ** 0.5


def test_the_makers_books_follow_the_index_and_the_stress_books_do_not() -> None:
    quoted, stress = _mids_against_moneyness("makers"), _mids_against_moneyness("random")
    assert _correlation(quoted) > 0.8  # the quote is the fair value of the index, give or take the makers' noise
    assert abs(_correlation(stress)) < 0.5
    assert len(quoted) == len(stress) == 36_000  # the same events, only the touch differs


def test_every_book_is_a_valid_ladder() -> None:
    for e in synthetic_recording(1.0, books="makers"):
        if isinstance(e, BookTick):
            for side in (e.yes_bids, e.no_bids):
                assert side is not None
                prices = [p for p, _ in side]
                assert prices == sorted(prices, reverse=True) and all(0 < p < 10_000 for p in prices)
                assert all(size >= 1 for _, size in side)
            assert e.top.yes_bid_cc is not None and e.top.no_bid_cc is not None
            assert e.top.yes_bid_cc + e.top.no_bid_cc < 10_000  # never crossed


def test_an_unknown_kind_of_book_is_refused() -> None:
    with pytest.raises(ValueError, match="books must be"):
        synthetic_recording(1.0, books="flat")  # type: ignore[arg-type]
